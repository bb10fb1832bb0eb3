"""Spec §4.3 read literally, in plain Python: a second, independent decoder of the entropy2
coding, slow and small, that the tests hold the C decoder and the spec's text to."""

from __future__ import annotations

TOTAL = 32768


class Model:
    """§4.3.1: a cumulative table c[0..N] and an update count."""

    def __init__(self, symbols: int, base: int) -> None:
        self.c = [i * TOTAL // symbols for i in range(symbols + 1)]
        self.base, self.n = base, 0

    def update(self, s: int) -> None:
        rate = min(self.base + self.n // 2, 6)
        self.n = min(self.n + 1, 15)
        symbols = len(self.c) - 1
        for i in range(1, symbols):
            t = 4 * i if i <= s else TOTAL - 4 * (symbols - i)
            self.c[i] += (t - self.c[i]) // (1 << rate)  # floor, as the spec says


class Decoder:
    """§4.3.3: two interleaved rANS states, 16-bit big-endian words."""

    def __init__(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise ValueError("ends early")
        self.payload, self.pos = payload, 8
        self.states = [int.from_bytes(payload[:4], "big"), int.from_bytes(payload[4:8], "big")]
        if min(self.states) < 1 << 16:
            raise ValueError("state")
        self.index = 0  # symbols decoded so far: even ones use states[0]

    def _step(self, start: int, freq: int, slot: int) -> None:
        i = self.index & 1
        x = freq * (self.states[i] >> 15) + slot - start
        if x < 1 << 16:
            if self.pos + 2 > len(self.payload):
                raise ValueError("ends early")
            x = x << 16 | int.from_bytes(self.payload[self.pos : self.pos + 2], "big")
            self.pos += 2
        self.states[i] = x
        self.index += 1

    def symbol(self, model: Model) -> int:
        slot = self.states[self.index & 1] & (TOTAL - 1)
        c = model.c
        s = max(i for i in range(len(c) - 1) if c[i] <= slot)
        self._step(c[s], c[s + 1] - c[s], slot)
        model.update(s)
        return s

    def raw(self, k: int) -> int:
        slot = self.states[self.index & 1] & (TOTAL - 1)
        u = slot >> (15 - k)
        self._step(u << (15 - k), 1 << (15 - k), slot)
        return u


def median(a: int, b: int, c: int) -> int:
    return sorted((a, b, c))[1]


def decode(payload: bytes, width: int, height: int, bits: int) -> list[int]:
    """The labels of an entropy2 payload, row-major; ValueError where §4.3 says reject."""
    lit_symbols = 1 << bits if bits <= 4 else 1 << (bits - 4)
    cand = [Model(5, 1) for _ in range(256)]
    lit = [Model(lit_symbols, 2) for _ in range(64)]
    lo = [Model(16, 2) for _ in range(4 * 16 * 18)]
    run = [Model(16, 2) for _ in range(9)]
    res = [Model(2 * bits, 2) for _ in range(9)]
    d = Decoder(payload)
    mode = d.raw(1) if bits > 4 else 0
    top = (1 << bits) - 1
    rows: list[list[int]] = []

    def at(x: int, y: int) -> int:
        """§4.2.2's neighbours, with their values outside the image."""
        if y < 0:
            return 0
        if x < 0:
            return rows[y - 1][0] if y > 0 else 0
        if x >= width:
            return rows[y][width - 1]
        return rows[y][x]

    def rank(v: int, p: int) -> int:
        m = min(p, top - p)
        if 0 <= v - p <= m:
            return 2 * (v - p)
        if 0 < p - v <= m:
            return 2 * (p - v) - 1
        return m + abs(v - p)

    def literal(a: int, p: int, k: int, excluded: set[int]) -> int:
        if bits <= 4:
            return d.symbol(lit[a * 16 + p])
        if mode == 1:
            b = d.symbol(res[k])
            z = b
            if b >= 4:
                g = 2 + (b - 4) // 2
                z = (2 + ((b - 4) & 1)) * 2 ** (g - 1) + d.raw(g - 1)
            for ranked in sorted(rank(e, p) for e in excluded):
                z += ranked <= z
            if z > top:
                raise ValueError("label")
            return next(v for v in range(top + 1) if rank(v, p) == z)
        hi = d.symbol(lit[a * 16 + (p >> 4)])
        rel = p & 15 if hi == p >> 4 else 16 if hi < p >> 4 else 17
        return hi * 16 + d.symbol(lo[(a * 16 + hi) * 18 + rel])

    for y in range(height):
        rows.append([])
        row = rows[y]
        while len(row) < width:
            x = len(row)
            w, ww, n = at(x - 1, y), at(x - 2, y), at(x, y - 1)
            nw, ne, nn = at(x - 1, y - 1), at(x + 1, y - 1), at(x, y - 2)
            activity = abs(w - nw) + abs(n - nw) + abs(n - ne)
            a = 0 if activity == 0 else 1 if activity == 1 else 2 if activity <= 3 else 3
            if a == 0:
                span = 0
                while span < min(256, width - x) and at(x + span + 1, y - 1) == w:
                    span += 1
                e = d.symbol(run[span.bit_length() - 1])
                if e == 0:
                    row.extend([w] * span)
                    continue
                length = 0
                if e >= 2:
                    k = e - 2
                    if 1 << k >= span:
                        raise ValueError("run")
                    length = (1 << k) + (d.raw(k) if k else 0)
                    if length >= span:
                        raise ValueError("run")
                row.extend([w] * length)
                row.append(literal(0, w, 0, {w}))
                continue
            pattern = (
                (w == n) | (n == ne) << 1 | (n == nw) << 2 | (w == nw) << 3
                | (w == ww) << 4 | (n == nn) << 5
            )  # fmt: skip
            s = d.symbol(cand[pattern * 4 + a])
            if s < 4:
                row.append((w, n, ne, nw)[s])
            else:
                k = min(1 + activity.bit_length() - 1, 8)
                row.append(literal(a, median(w, n, w + n - nw), k, {w, n, ne, nw}))
    if d.states != [1 << 16, 1 << 16]:
        raise ValueError("state")
    if d.pos != len(payload):
        raise ValueError("bytes left")
    return [label for row in rows for label in row]
