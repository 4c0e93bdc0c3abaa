// A token: a fixed supply created for whoever deploys the contract, moved
// between accounts by transfer. Balances live in the state archive, one
// file per account, so the number of holders is not bounded by the exports
// snapshot; the totals live on exports.
exports.symbol = 'TOK'
exports.supply = 0
exports.owner = null
exports.holders = 0

// init runs once, when the contract is created, as its creator: nobody can
// call it afterwards, so nobody else can become the owner.
exports.init = () => {
  exports.owner = call.caller
  exports.supply = 1000000
  setBalance(call.caller, exports.supply)
}

exports.balanceOf = (account) => {
  checkAccount(account)
  return balance(account)
}

exports.transfer = (to, amount) => {
  checkAccount(to)
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new RangeError('amount must be a positive integer')
  }
  const from = call.caller
  const have = balance(from)
  if (have < amount) {
    throw new Error(`insufficient balance: ${have} < ${amount}`)
  }
  setBalance(from, have - amount)
  setBalance(to, balance(to) + amount)
  return balance(from)
}

// Accounts are the callers' keys: 64 lowercase hex digits.
function checkAccount(account) {
  if (typeof account !== 'string' || !/^[0-9a-f]{64}$/.test(account)) {
    throw new TypeError('an account is 64 lowercase hex digits')
  }
}

function balance(account) {
  const path = `/balances/${account}`
  return state.exists(path) ? Number(state.readFile(path)) : 0
}

function setBalance(account, amount) {
  const path = `/balances/${account}`
  const had = state.exists(path)
  if (amount === 0) {
    if (had) {
      state.unlink(path)
      exports.holders--
    }
    return
  }
  if (!had) exports.holders++
  state.writeFile(path, String(amount))
}
