"""Redis Cluster's key slots, as Redis computes them, and the slot tags sidecache names a
cluster pool's side keys with. No dependencies: every harness module may import it."""
import itertools


_CRC16_TABLE = []
for _byte in range(256):
    _crc = _byte << 8
    for _ in range(8):
        _crc = ((_crc << 1) ^ 0x1021) if _crc & 0x8000 else _crc << 1
    _CRC16_TABLE.append(_crc & 0xFFFF)


def crc16(data):
    """Redis Cluster's CRC16 (XMODEM) of `data` (bytes)."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key):
    """The slot of `key` (str or bytes), hash tags included, as CLUSTER KEYSLOT computes it."""
    if isinstance(key, str):
        key = key.encode()
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc16(key) % 16384


_SLOT_TAGS = {}
_TAG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def slot_tag(slot):
    """The tag sidecache names a cluster pool's side keys with in `slot` (written again from
    src/route/slot_tags.cpp: the first string of [0-9A-Za-z] by length, then in the alphabet's
    order, whose CRC16 lands in the slot)."""
    if not _SLOT_TAGS:
        for length in (1, 2, 3):
            for chars in itertools.product(_TAG_ALPHABET, repeat=length):
                tag = "".join(chars)
                _SLOT_TAGS.setdefault(crc16(tag.encode()) % 16384, tag)
            if len(_SLOT_TAGS) == 16384:
                break
    return _SLOT_TAGS[slot]
