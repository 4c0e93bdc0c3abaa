#!/usr/bin/env bash
# The private trade of CPChain's overview, step by step, on a 4 + 4 localnet,
# through the vchain CLI. Usage: run.sh [DIR]   (VCHAIN=/path/to/vchain to pick
# the binary). It leaves the localnet running in DIR/net when KEEP=1.
set -euo pipefail
V=${VCHAIN:-vchain}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-$(mktemp -d)}
NET=$DIR/net
step() { printf '\n== %s\n' "$*"; }

step "a 4 + 4 localnet in $NET"
$V localnet up --validators 4 --proposers 4 --dir "$NET" --period 100 --timeout 1000 >/dev/null
[ "${KEEP:-}" = 1 ] || trap '$V localnet down --dir "$NET" >/dev/null' EXIT
api() { echo "http://$(sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' "$NET/$1/config.json")"; }
RPC=$(api p0)
G=$NET/genesis.json
FAUCET=$NET/faucet.key

for who in A B P; do
  $V key new --out "$DIR/$who.key" >/dev/null
  declare "ADDR_$who=$($V key address --key "$DIR/$who.key")"
  declare "PUB_$who=$($V key public --key "$DIR/$who.key")"
done
for who in A B P; do
  addr=ADDR_$who
  $V tx send --to "${!addr}" --amount 1000 --key "$FAUCET" --rpc "$RPC" >/dev/null
done
echo "seller A $ADDR_A, buyer B $ADDR_B, agent P $ADDR_P (1000 coins each)"
# Each participant's own engine: the private state is in these directories only.
priv() { local who=$1; shift; $V private "$@" --rpc "$RPC" --genesis "$G" --key "$DIR/$who.key" --datadir "$DIR/$who.private"; }

step "0. P opens the escrow CE and deploys the private contract CT among A, B and P"
$V tx call --contract escrow --method openEscrow --args '{"name":"ce-1"}' --key "$DIR/P.key" --rpc "$RPC" >/dev/null
CT=$(priv P deploy "$HERE/trade.js" --with "$PUB_A,$PUB_B" 2>/dev/null)
echo "CE is escrow ce-1, CT is $CT"

step "1. A encrypts the item's data, stores it off chain under its hash, and registers the item in CT"
printf 'hourly temperatures, Singapore, 2019: 27.1 27.4 28.0 ...\n' > "$DIR/item.txt"
read -r CID ITEM_KEY < <($V blob put "$DIR/item.txt" --rpc "$RPC")
ITEM=$(priv A call "$CT" register '"Weather data"' "\"$CID\"" 100 '"hourly temperatures"' 2>/dev/null)
echo "item $ITEM at blob $CID, price 100"

step "2. B reads the items in CT"
priv B state "$CT" "/items/$ITEM"

step "3. B pays the price into CE"
$V tx call --contract escrow --method prepay --args '{"name":"ce-1"}' --amount 100 --key "$DIR/B.key" --rpc "$RPC" >/dev/null
$V chain call --contract escrow --method escrowOf '"ce-1"' --rpc "$RPC"

step "4. B orders the item with its public key"
ORDER=$(priv B call "$CT" buy "$ITEM" "\"$PUB_B\"" '"ce-1"' 2>/dev/null)
echo "order $ORDER"

step "5. A checks CE for B's deposit"
$V chain call --contract escrow --method escrowOf '"ce-1"' --rpc "$RPC" | grep -q "\"$ADDR_B\"" && echo "B has paid into ce-1"

step "6. A delivers: the item key sealed to B's public key"
SEALED=$(printf '%s' "$ITEM_KEY" | $V private seal --to "$PUB_B")
priv A call "$CT" deliver "$ORDER" "\"$SEALED\"" 2>/dev/null

step "7. B opens the key, fetches and decrypts the data, and confirms"
KEY=$(priv B state "$CT" "/keys/$ORDER" | $V private open --key "$DIR/B.key")
$V blob get "$CID" --item-key "$KEY" --rpc "$RPC"
priv B call "$CT" confirm "$ORDER" 2>/dev/null

step "8. P sees the confirmation and CE pays A"
priv P sync "$CT" 2>/dev/null
priv P state "$CT" "/orders/$ORDER" | grep -q '"state":"confirmed"' && echo "order $ORDER confirmed"
$V tx call --contract escrow --method payTo --args "{\"name\":\"ce-1\",\"to\":\"$ADDR_A\",\"amount\":100}" --key "$DIR/P.key" --rpc "$RPC" >/dev/null
priv A sync "$CT" 2>/dev/null

step "balances and the audit"
for who in A B P; do
  addr=ADDR_$who
  echo "$who $($V account show "${!addr}" --rpc "$RPC")"
done
$V chain call --contract escrow --method escrowOf '"ce-1"' --rpc "$RPC"
$V private audit "$CT" --rpc "$RPC"
echo "CT=$CT CID=$CID ORDER=$ORDER ITEM_KEY=$ITEM_KEY DIR=$DIR"
