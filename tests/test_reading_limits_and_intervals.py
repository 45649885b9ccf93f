"""Bounded reading of submissions, the exact decimal reader, the ground-truth cache, the
array-operation bootstrap, the >5-guesses warning and the worst-classes table."""
from __future__ import annotations

import io
import json
import re
import tracemalloc

import numpy as np
import pytest
from conftest import MICRO, ROOT
from test_metric_oracles import random_det_case

from experiments.cli import main
from ilsvrc import _text, stats
from ilsvrc.errors import InputError
from ilsvrc.ground_truth import ImageList, ObjectTable
from ilsvrc.metrics.detection import evaluate_detection
from ilsvrc.submissions import (
    read_cls_submission,
    read_det_submission,
    read_loc_submission,
)

CLS_META = str(ROOT / "ilsvrc/data/map_clsloc.txt")


class EndlessStream(io.RawIOBase):
    """A binary stream: ``head`` then ``tail`` repeated forever; counts the bytes handed out."""

    def __init__(self, head: bytes, tail: bytes, limit: int = 200 << 20):
        self.head, self.tail, self.limit, self.served = head, tail, limit, 0
        self.name = "endless.txt"

    def readable(self):
        return True

    def read(self, size=-1):
        assert size > 0, "the reader asked for the whole (endless) file"
        assert self.served < self.limit, "the reader kept reading"
        out = bytearray()
        while len(out) < size:
            pos = self.served + len(out)
            if pos < len(self.head):
                out += self.head[pos: pos + size - len(out)]
            else:
                k = (pos - len(self.head)) % len(self.tail)
                out += self.tail[k: k + size - len(out)]
        self.served += len(out)
        return bytes(out)


# --------------------------------------------------------------------------- bounded reading
@pytest.mark.parametrize("task", ["cls", "loc"])
def test_file_longer_than_the_ground_truth_is_refused_at_line_n_plus_1(task):
    n = 5000
    line = b"1 2 3 4 5\n" if task == "cls" else b"1 0 0 9 9 2 0 0 9 9\n"
    stream = EndlessStream(line * n, line)
    reader = read_cls_submission if task == "cls" else read_loc_submission
    with pytest.raises(InputError) as err:
        reader(stream, n, 1000)
    assert err.value.line == n + 1 and f"expected {n} lines" in str(err.value) and "got more" in str(err.value)
    # the prefix read is the n lines plus at most two blocks, whatever follows
    assert stream.served <= len(line) * n + 2 * _text.BLOCK_BYTES


def test_endless_line_and_random_bytes_are_refused_after_a_bounded_prefix():
    stream = EndlessStream(b"1 2 3\n", b"7")
    with pytest.raises(InputError, match="line longer than 1,048,576 bytes") as err:
        read_cls_submission(stream, 10, 1000)
    assert err.value.line == 2 and stream.served <= _text.MAX_LINE_BYTES + 2 * _text.BLOCK_BYTES
    noise = np.random.default_rng(0).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    stream = EndlessStream(b"", noise)
    with pytest.raises(InputError, match="not a text file|longer than"):
        read_cls_submission(stream, 50000, 1000)
    assert stream.served <= _text.MAX_LINE_BYTES + 2 * _text.BLOCK_BYTES


def _det_text(n: int, n_images: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 400, (n, 2))
    rows = zip(rng.integers(1, n_images + 1, n).tolist(), rng.integers(1, 201, n).tolist(),
               rng.integers(0, 10**6, n).tolist(), xy.tolist(), (xy + rng.integers(1, 200, (n, 2))).tolist())
    return "".join(f"{i} {c} 0.{s:06d} {a[0]} {a[1]}.5 {b[0]} {b[1]}\n" for i, c, s, a, b in rows).encode()


def _parse_peak(raw: bytes, images: ImageList) -> tuple[int, int]:
    tracemalloc.start()
    try:
        sub = read_det_submission(io.BytesIO(raw), images, 200)
        return len(sub), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_det_parsing_memory_is_bounded_per_detection():
    """Streaming parse: peak traced memory <= 64 bytes per detection + one block's work space."""
    images = ImageList(tuple(f"i{i}" for i in range(1000)), np.arange(1, 1001))
    small, large = _det_text(150_000, 1000, 0), _det_text(450_000, 1000, 1)
    n_small, peak_small = _parse_peak(small, images)
    n_large, peak_large = _parse_peak(large, images)
    assert (n_small, n_large) == (150_000, 450_000)
    slope = (peak_large - peak_small) / (n_large - n_small)
    assert slope <= 64, f"{slope:.1f} bytes per detection"
    assert peak_large <= 64 * n_large + 40 * _text.BLOCK_BYTES, peak_large  # the text itself is 13 MB
    # the same numbers as reading the file in one piece
    sub = read_det_submission(io.BytesIO(small), images, 200)
    values = np.array(small.split(), np.float64).reshape(-1, 7)
    np.testing.assert_array_equal(sub.image, values[:, 0] - 1)
    np.testing.assert_array_equal(sub.box, values[:, 3:])


# --------------------------------------------------------------------------- the decimal reader
def test_decimal_reader_gives_the_doubles_of_float(rng):
    vals = (rng.random(20000) * 10.0 ** rng.integers(-25, 25, 20000)).tolist()
    tokens = ([repr(v) for v in vals] + [f"{v:.6f}" for v in vals[:5000]] + [f"{v:.4e}" for v in vals[:2000]]
              + [str(int(i)) for i in rng.integers(-10**15, 10**15, 3000)] + [f"-{v:.15f}" for v in rng.random(3000)]
              + ["-0", "+5", "5.", ".5", "+.5", "007", "-0.000", "123456789012345", "1234567890123456", "1_0"])
    raw = ("\n".join(" ".join(tokens[i:i + 7]) for i in range(0, len(tokens), 7)) + "\n").encode()
    block = next(_text.iter_token_blocks(io.BytesIO(raw), "test", block_bytes=None))
    got = block.values(lambda j: f"column {j}")
    expected = np.array([float(t) for t in tokens])
    assert np.array_equal(got, expected) and np.array_equal(np.signbit(got), np.signbit(expected))
    _, slow = _text._fast_numbers(block.raw, block.token_start, block.token_end)
    # the vectorised path takes exactly the plain decimals of at most 15 digits
    plain = [re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", t) is not None and sum(ch.isdigit() for ch in t) <= 15
             for t in tokens]
    np.testing.assert_array_equal(~slow, plain)


@pytest.mark.parametrize("bad, message", [("1..2", "expected a number, got '1..2'"), ("1-2", "got '1-2'"),
                                          ("nan", "expected a finite number, got 'nan'"), ("-", "got '-'"),
                                          ("1e999", "expected a finite number")])
def test_bad_tokens_are_located_across_blocks(bad, message):
    lines = [" ".join(str(i + j) for j in range(5)) for i in range(400)]
    lines[317] = f"1 2 {bad} 4 5"
    raw = ("\n".join(lines) + "\n").encode()
    with pytest.raises(InputError) as err:
        for block in _text.iter_token_blocks(io.BytesIO(raw), "test", block_bytes=97):
            _text.parse_rows(block, "test", lambda j: f"guess {j + 1}")
    assert err.value.line == 318 and err.value.field == "guess 3" and message in str(err.value)


def test_small_blocks_read_the_same_rows_and_blank_lines():
    raw = b"\xef\xbb\xbf" + b"".join(f"{i},{i + 1}\t{i + 2}\r\n".encode() for i in range(300)) + b"\n\n"
    rows = []
    for block in _text.iter_token_blocks(io.BytesIO(raw), "test", block_bytes=50):
        values, _ = _text.parse_rows(block, "test", str)
        rows.append(values)
    np.testing.assert_array_equal(np.vstack(rows), np.arange(300)[:, None] + np.arange(3))
    broken = raw[:-2] + b"\n\n1 2 3\n"
    with pytest.raises(InputError, match="blank line") as err:
        list(_text.iter_token_blocks(io.BytesIO(broken), "test", block_bytes=50))
    assert err.value.line == 301


# --------------------------------------------------------------------------- warnings and tables
def test_more_than_five_guesses_warns_and_ignores_the_rest(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("6\n7\n8\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("1 2 3 4 5 6\n7\n1 2 3 4 5 8 9\n")  # the 6th guess would be right on lines 1 and 3
    out = tmp_path / "r.json"
    assert main(["evaluate", "cls", str(pred), "--ground-truth", str(gt), "--bootstrap", "0",
                 "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["top_k_error"] == [2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3]
    warning = "2 line(s) of the CLS submission hold more than 5 guesses (first: line 1); only the first 5"
    assert any(w.startswith(warning) for w in got["warnings"])
    assert f"warning: {warning}" in capsys.readouterr().err
    d = MICRO / "clsloc_rules"
    lines = (d / "pred.txt").read_text().splitlines()
    lines[0] = " ".join([lines[0]] + ["1 0 0 9 9"] * 5)
    loc = tmp_path / "loc.txt"
    loc.write_text("\n".join(lines) + "\n")
    assert main(["evaluate", "loc", str(loc), "--ground-truth", str(d / "gt.txt"), "--boxes", str(d / "xml"),
                 "--meta", CLS_META, "--bootstrap", "0", "--json", str(out)]) == 0
    assert any("1 line(s) of the CLS-LOC submission hold more than 5 guesses (first: line 1)" in w
               for w in json.loads(out.read_text())["warnings"])


def test_worst_classes_table_labels_every_column(tmp_path, capsys):
    gt = tmp_path / "gt.txt"
    gt.write_text("1\n2\n3\n")
    pred = tmp_path / "pred.txt"
    pred.write_text("1\n5\n3\n")
    assert main(["evaluate", "cls", str(pred), "--ground-truth", str(gt), "--bootstrap", "0", "--worst", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("Worst 2 classes by top-5 error (id: devkit class id):")
    assert out[at + 1].split() == ["id", "WNID", "top-5", "error", "name"]
    assert out[at + 2].split()[:3] == ["2", "n02100735", "1.0000"] and out[at + 2].endswith("English setter")
    d = MICRO / "det_basic"
    assert main(["evaluate", "det", str(d / "pred.txt"), "--boxes", str(d / "xml"), "--image-list",
                 str(d / "val.txt"), "--meta", str(ROOT / "ilsvrc/data/map_det.txt"), "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    at = out.index("Worst 1 classes by AP (id: devkit class id):")
    assert out[at + 1].split() == ["id", "WNID", "AP", "name"]
    assert out[at + 2].split()[:3] == ["1", "n02672831", "0.8667"]


# --------------------------------------------------------------------------- the ground-truth cache
def test_ground_truth_cache_round_trip_and_damage(tmp_path, monkeypatch):
    from ilsvrc import _cache
    from ilsvrc.ground_truth import load_det_ground_truth, read_image_list
    from ilsvrc.synsets import SynsetTable

    d = MICRO / "det_basic"
    images = read_image_list(d / "val.txt")
    reference = load_det_ground_truth(d / "xml", images, SynsetTable.bundled("det"))
    calls = []

    def build():
        calls.append(1)
        return {"image": reference.image, "box": reference.box}

    source = d / "pred.txt"
    monkeypatch.setenv("ILSVRC_CACHE", str(tmp_path / "cache"))
    first = _cache.cached_arrays(source, "test", build)
    second = _cache.cached_arrays(source, "test", build)
    assert len(calls) == 1
    np.testing.assert_array_equal(second["box"], reference.box)
    np.testing.assert_array_equal(first["image"], second["image"])
    entry, = (tmp_path / "cache").glob("test-v*.npz")
    entry.write_bytes(b"damaged")
    np.testing.assert_array_equal(_cache.cached_arrays(source, "test", build)["box"], reference.box)
    assert len(calls) == 2 and entry.stat().st_size > 7  # rebuilt and rewritten
    monkeypatch.setenv("ILSVRC_CACHE", "off")
    _cache.cached_arrays(source, "test", build)
    assert len(calls) == 3
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("ILSVRC_CACHE", str(blocked / "sub"))  # cannot be created: still works
    np.testing.assert_array_equal(_cache.cached_arrays(source, "test", build)["image"], reference.image)


# --------------------------------------------------------------------------- intervals
def _reference_average_precisions(image, label, result, objects, blacklist, weights):
    """The former per-resample AP: weighted cumulative sums down every detection of the ranked list."""
    m = result.matches
    c = len(result.ap)
    ranked = m.rank[m.counted[m.rank]]
    ranked = ranked[np.argsort(label[ranked], kind="stable")]
    det_class = label[ranked] - 1
    tpw = m.tp[ranked] * weights[image[ranked]]
    fpw = m.fp[ranked] * weights[image[ranked]]
    keep = np.ones(len(objects), bool)
    if blacklist is not None and len(blacklist):
        keep = ~np.isin(objects.image * 1000 + objects.label, blacklist[:, 0] * 1000 + blacklist[:, 1])
    keep &= objects.label <= c
    npos = np.bincount(objects.label[keep] - 1, weights=weights[objects.image[keep]], minlength=c)
    ap = np.full(c, np.nan)
    for k in range(c):
        sel = det_class == k
        ctp, cfp = np.cumsum(tpw[sel]), np.cumsum(fpw[sel])
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = np.where(ctp + cfp > 0, ctp / (ctp + cfp), 0.0)
        mpre = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
        if npos[k] > 0:
            ap[k] = float(np.sum(tpw[sel] * mpre)) / npos[k]
    return ap


@pytest.mark.parametrize("seed", range(6))
def test_weighted_ap_resamples_equal_the_full_list_computation(seed):
    """Same resample weights as before (same seed), same per-resample mAP to 1e-12."""
    rng = np.random.default_rng(seed)
    dets, objects, blacklist = random_det_case(rng)
    n = 12
    table = ObjectTable.from_lists([[o[1] for o in objects if o[0] == i] for i in range(n)],
                                   [np.array([o[2] for o in objects if o[0] == i]).reshape(-1, 4) for i in range(n)])
    img = np.array([d[0] for d in dets])
    lab = np.array([d[1] for d in dets])
    score = np.round(np.array([d[2] for d in dets]), 1)  # many ties
    box = np.array([d[3] for d in dets])
    bl = np.array(sorted(blacklist)).reshape(-1, 2)
    res = evaluate_detection(img, lab, score, box, table, blacklist=bl)
    wap = stats.WeightedAP.from_result(res, img, lab, table, bl)
    np.testing.assert_allclose(wap.average_precisions(np.ones(n)), res.ap, atol=1e-12, equal_nan=True)
    boot = wap.bootstrap(n_resamples=150, seed=seed)
    weights = np.concatenate(list(stats.resample_weights(n, 150, seed)))
    expected = [np.mean(_reference_average_precisions(img, lab, res, table, bl, w)) for w in weights]
    np.testing.assert_allclose(boot, expected, atol=1e-12, equal_nan=True)


def test_resample_weights_stream_is_unchanged():
    """The draws behind detection intervals: 64 resamples at a time, images one by one."""
    got = np.concatenate(list(stats.resample_weights(37, 100, seed=5)))
    rng = np.random.default_rng(5)
    expected = []
    for m in (64, 36):
        draws = rng.integers(0, 37, size=(m, 37))
        expected.extend(np.bincount(row, minlength=37) for row in draws)
    np.testing.assert_array_equal(got, np.array(expected, float))


def test_resampled_means_are_multinomial_over_distinct_rows(rng):
    x = (rng.random((3000, 5)) < np.linspace(0.7, 0.2, 5)).astype(float)
    x = np.minimum.accumulate(x, axis=1)  # nested top-k errors: at most 6 distinct rows
    got = stats.resampled_means(x, 400, seed=9)
    patterns, inverse = np.unique(x, axis=0, return_inverse=True)
    draws = np.random.default_rng(9).multinomial(3000, np.bincount(inverse.ravel()) / 3000, size=400)
    np.testing.assert_allclose(got, draws @ patterns / 3000, rtol=0, atol=1e-15)
    # the bootstrap distribution of drawing images one by one: same centre and spread
    by_image = np.concatenate([w @ x / 3000 for w in stats.resample_weights(3000, 400, seed=9)])
    np.testing.assert_allclose(got.mean(0), by_image.mean(0), atol=0.002)
    np.testing.assert_allclose(got.std(0), by_image.std(0), rtol=0.15)
    # many distinct rows: drawn image by image
    y = rng.random((5000, 2))
    np.testing.assert_allclose(stats.resampled_means(y, 50, seed=2),
                               np.concatenate([w @ y / 5000 for w in stats.resample_weights(5000, 50, 2)]))
