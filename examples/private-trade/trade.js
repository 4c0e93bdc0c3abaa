// CT: private trading. Sellers list items; a buyer orders one with the
// public key the item key is to be sealed to; the seller delivers that
// sealed key; the buyer confirms. Only the participants see any of it.
exports.items = 0
exports.orders = 0
exports.init = () => { state.mkdir('/items'); state.mkdir('/orders'); state.mkdir('/keys') }
const get = (p) => { if (!state.exists(p)) throw new Error(p + ': none'); return JSON.parse(state.readFile(p)) }
const put = (p, v) => state.writeFile(p, JSON.stringify(v))
exports.register = (name, cid, price, description) => {
  if (!/^[0-9a-f]{64}$/.test(cid)) throw new Error('cid: want a blob hash')
  if (!Number.isSafeInteger(price) || price <= 0) throw new Error('price: want a positive integer')
  const id = ++exports.items
  put('/items/' + id, { id, seller: call.caller, name, cid, price, description })
  return id
}
exports.item = (id) => get('/items/' + id)
exports.list = () => state.readdir('/items').map((i) => get('/items/' + i))
exports.buy = (item, pubkey, escrow) => {
  get('/items/' + item)
  if (!/^[0-9a-f]{64}$/.test(pubkey)) throw new Error('pubkey: want 64 hex digits')
  const id = ++exports.orders
  put('/orders/' + id, { id, item, buyer: call.caller, pubkey, escrow, state: 'ordered' })
  return id
}
exports.order = (id) => get('/orders/' + id)
exports.deliver = (id, sealedKey) => {
  const o = get('/orders/' + id)
  if (get('/items/' + o.item).seller !== call.caller) throw new Error('only the seller delivers')
  if (o.state !== 'ordered') throw new Error('order ' + id + ' is ' + o.state)
  o.state = 'delivered'
  put('/orders/' + id, o)
  state.writeFile('/keys/' + id, sealedKey)
  return o.state
}
exports.confirm = (id) => {
  const o = get('/orders/' + id)
  if (o.buyer !== call.caller) throw new Error('only the buyer confirms')
  if (o.state !== 'delivered') throw new Error('order ' + id + ' is ' + o.state)
  o.state = 'confirmed'
  put('/orders/' + id, o)
  return o.state
}
