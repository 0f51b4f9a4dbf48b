"""Sae.encode, mona.pool and mona.jaccard against plain numpy references (float64) on the tiny sparsify SAE."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import mona


def read_safetensors(path, as_float64=True) -> dict:
    """A plain reader of the safetensors format (8-byte header length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        array = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
        out[name] = array.astype(np.float64) if as_float64 else array
    return out


def reference_encode(params: dict, x: np.ndarray, k: int):
    """sparsify TopK: z = TopK_k(ReLU(W_enc (x - b_dec) + b_enc)), ties to the lower latent; entries > 0 only."""
    pre = (x.astype(np.float64) - params["b_dec"]) @ params["encoder.weight"].T + params["encoder.bias"]
    pre = np.maximum(pre, 0.0)
    rows = []
    for p in pre:
        order = sorted(range(len(p)), key=lambda j: (-p[j], j))[:k]
        keep = sorted(j for j in order if p[j] > 0)
        rows.append((np.array(keep, dtype=np.int64), p[keep]))
    return rows


@pytest.fixture(scope="module")
def sae(sae_dir):
    return mona.Sae(sae_dir)


@pytest.fixture(scope="module")
def params(sae_dir):
    return read_safetensors(f"{sae_dir}/sae.safetensors")


def test_info(sae, sae_dir):
    info = sae.info
    assert (info["format"], info["d_in"], info["d_sae"], info["k"]) == ("sparsify", 64, 256, 8)
    assert info["layer"] == 2  # layers.1 -> HF hidden_states[2]


@pytest.mark.parametrize("k", [0, 3])
def test_encode_equals_numpy(sae, params, k):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(33, 64)).astype(np.float32)
    indices, values = sae.encode(x, k=k)
    want = reference_encode(params, x, k or 8)
    width = max(len(i) for i, _ in want)
    assert indices.shape == (33, width) and values.shape == (33, width)
    assert indices.dtype == np.int64 and values.dtype == np.float32
    for r, (wi, wv) in enumerate(want):
        n = len(wi)
        assert indices[r, :n].tolist() == wi.tolist()
        np.testing.assert_allclose(values[r, :n], wv, rtol=2e-5, atol=1e-6)
        assert (indices[r, n:] == -1).all() and (values[r, n:] == 0).all()


def test_encode_float16_is_its_float32(sae):
    x = np.random.default_rng(6).normal(size=(5, 64)).astype(np.float16)
    i16, v16 = sae.encode(x)
    i32, v32 = sae.encode(x.astype(np.float32))
    assert np.array_equal(i16, i32) and np.array_equal(v16, v32)


def test_encode_rejects_bad_shapes(sae):
    with pytest.raises(mona.InvalidInputError, match="d_in is 64"):
        sae.encode(np.zeros((2, 63), dtype=np.float32))
    with pytest.raises(TypeError):
        sae.encode(np.zeros((2, 64), dtype=np.float64))
    with pytest.raises(ValueError):
        sae.encode(np.zeros(64, dtype=np.float32))
    assert sae.encode(np.zeros((0, 64), dtype=np.float32))[0].shape == (0, 0)


def test_pool_and_jaccard_equal_numpy(sae):
    rng = np.random.default_rng(7)
    xa = rng.normal(size=(9, 64)).astype(np.float32)
    xb = rng.normal(size=(4, 64)).astype(np.float32)
    ia, va = sae.encode(xa)
    ib, vb = sae.encode(xb)

    def dense_mean(i, v):
        acc = np.zeros(256, dtype=np.float64)
        for r in range(i.shape[0]):
            for j, val in zip(i[r], v[r]):
                if j >= 0:
                    acc[j] += float(val)
        return (acc / i.shape[0]).astype(np.float32)

    a = mona.pool(ia, va, d_sae=256)
    b = mona.pool(ib, vb, d_sae=256)
    da, db = dense_mean(ia, va), dense_mean(ib, vb)
    assert a.indices.tolist() == np.flatnonzero(da).tolist()
    assert np.array_equal(a.values, da[np.flatnonzero(da)])
    assert a.l1 == pytest.approx(float(da.astype(np.float64).sum()), rel=1e-12)
    want = np.minimum(da, db).astype(np.float64).sum() / np.maximum(da, db).astype(np.float64).sum()
    assert mona.jaccard(a, b) == pytest.approx(want, rel=1e-12)
    assert mona.jaccard(a, b) == mona.jaccard(b, a)
    assert mona.jaccard(a, a) == 1.0
    assert mona.jaccard(da, db) == pytest.approx(want, rel=1e-12)  # dense inputs
    assert mona.jaccard(np.zeros(4), np.zeros(4)) == 0.0
    s = mona.pool(ia, va, d_sae=256, pooling="sum")
    assert np.allclose(s.values, a.values * 9, rtol=1e-6)


def test_pool_errors(sae):
    i, v = sae.encode(np.ones((2, 64), dtype=np.float32))
    with pytest.raises(mona.InvalidInputError, match="d_sae"):
        mona.pool(i, v, d_sae=4)
    with pytest.raises(mona.InvalidInputError, match="mean"):
        mona.pool(i, v, d_sae=256, pooling="median")


def test_model_info(model):
    info = mona.Model(model).info
    assert (info["architecture"], info["n_layer"], info["n_embd"]) == ("llama", 3, 64)
    assert info["has_chat_template"]


def test_missing_sae_and_model(tmp_path):
    with pytest.raises(mona.NotFoundError):
        mona.Sae(tmp_path / "nope")
    with pytest.raises(mona.MonaError):
        mona.Model(tmp_path / "nope.gguf").info


def test_activations_equal_cli(tmp_path, mona_bin, fixtures, model, sae_dir, sae):
    import subprocess

    dump = tmp_path / "a.safetensors"
    inputs = fixtures / "target_math.jsonl"
    subprocess.run([mona_bin, "activations", "--model", model, "--sae", sae_dir, "--input", str(inputs), "--out",
                    str(dump), "--threads", "1", "--quiet"], check=True)
    ref = read_safetensors(dump, as_float64=False)
    act = mona.activations(inputs, model=model, sae=sae_dir, threads=1)
    assert (act["layer"], act["n_embd"], len(act["samples"])) == (2, 64, 5)
    for i, s in enumerate(act["samples"]):
        p = f"sample.{i}."
        assert np.array_equal(s["tokens"], ref[p + "tokens"])
        assert s["residual"].shape == (len(s["tokens"]), 64)
        assert np.array_equal(s["residual"], ref[p + "residual"])  # bit for bit
        assert np.array_equal(s["code_offsets"], ref[p + "code_offsets"])
        assert np.array_equal(s["code_indices"], ref[p + "code_indices"])
        assert np.array_equal(s["code_values"], ref[p + "code_values"])
        assert np.array_equal(s["pooled"].indices, ref[p + "pooled_indices"])
        assert np.array_equal(s["pooled"].values, ref[p + "pooled_values"])
        # The same codes from Sae.encode of the residual rows, and the same vector from mona.pool of the no-bos
        # rows (the tiny model's vocab adds BOS: row 0).
        offsets, idx, val = sae.encode_csr(s["residual"])
        assert np.array_equal(offsets, s["code_offsets"]) and np.array_equal(idx, s["code_indices"])
        assert np.array_equal(val, s["code_values"])
        ci, cv = sae.encode(s["residual"])
        v = mona.pool(ci[1:], cv[1:], d_sae=256)
        assert np.array_equal(v.indices, s["pooled"].indices) and np.array_equal(v.values, s["pooled"].values)
        assert v.l1 == s["pooled"].l1
    rows_only = mona.activations(inputs, model=model, sae=False, layer=1, threads=1)
    assert rows_only["layer"] == 1 and "code_values" not in rows_only["samples"][0]
