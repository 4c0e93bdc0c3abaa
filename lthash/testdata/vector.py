# An independent implementation of lthash (Python, the cryptography package):
# prints the digest TestVector pins.
import hashlib, struct
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
D=b"vchain/lthash16/v1\x00"
def uvarint(n):
    out=b""
    while True:
        b=n&0x7f; n>>=7
        if n: out+=bytes([b|0x80])
        else: return out+bytes([b])
def element(k,v):
    seed=hashlib.sha256(D+uvarint(len(k))+k+v).digest()
    enc=Cipher(algorithms.AES(seed),modes.CTR(b"\0"*16)).encryptor()
    return enc.update(b"\0"*2048)
lanes=[0]*1024
for k,v in [(b"n/alice.id",b'{"owner":"alice"}'),(b"n/bob.id",b'{"owner":"bob"}')]:
    e=element(k,v)
    for i in range(1024):
        lanes[i]=(lanes[i]+struct.unpack_from("<H",e,2*i)[0])&0xffff
print(hashlib.sha256(D+b"".join(struct.pack("<H",x) for x in lanes)).hexdigest())
