import struct

import numpy as np
import pytest

from gdl.data.datasets.tfrecord import (
    _enc_varint,
    _key,
    _len_field,
    _register_py,
    crc32c,
    iter_tfrecord,
    masked_crc32c,
    parse_example,
    parse_tensor,
    serialize_example,
    serialize_tensor,
    tfrecord_index,
    write_tfrecord,
)


def test_crc32c_reference_vectors():
    # RFC 3720 (iSCSI) appendix B.4 and the classic check value
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


@pytest.mark.parametrize("n", [2048, 2049, 5000, 65536, 100_003])
def test_vectorised_crc32c_equals_bytewise(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert crc32c(data) == _register_py(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def test_masked_crc_formula():
    c = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.float32(0.3125),
        np.linspace(0, 1, 5000, dtype=np.float32),
        np.array([[1.5, -2.25]], dtype=np.float64),
        np.array([-3, 7], dtype=np.int64),
        np.array([1, 2, 3], dtype=np.int32),
        np.zeros((0, 3), dtype=np.float32),
    ],
)
def test_tensor_round_trip(array):
    out = parse_tensor(serialize_tensor(array))
    assert out.dtype == np.asarray(array).dtype and out.shape == np.shape(array)
    np.testing.assert_array_equal(out, array)


def test_tensor_with_float_val_instead_of_content():
    # TensorProto{dtype: DT_FLOAT, tensor_shape{dim{size: 3}}, float_val: [packed 1, 2, 3]}
    shape = _len_field(2, _key(1, 0) + _enc_varint(3))
    buf = _key(1, 0) + _enc_varint(1) + _len_field(2, shape) + _len_field(5, struct.pack("<3f", 1, 2, 3))
    np.testing.assert_array_equal(parse_tensor(buf), [1.0, 2.0, 3.0])
    # unpacked repeated floats (wire type 5), one value broadcast to the shape
    buf = _key(1, 0) + _enc_varint(1) + _len_field(2, shape) + _key(5, 5) + struct.pack("<f", 4.0)
    np.testing.assert_array_equal(parse_tensor(buf), [4.0, 4.0, 4.0])
    with pytest.raises(ValueError, match="dtype enum"):
        parse_tensor(_key(1, 0) + _enc_varint(7))


def test_example_round_trip():
    feats = {
        "x": serialize_tensor(np.array([1.0, 2.0], dtype=np.float32)),
        "f": np.array([1.5, -2.5], dtype=np.float32),
        "i": np.array([-1, 5, 2**40]),
        "s": [b"a", b"bc"],
    }
    ex = parse_example(serialize_example(feats))
    assert ex["x"][0] == "bytes" and parse_tensor(ex["x"][1][0]).tolist() == [1.0, 2.0]
    assert ex["f"][0] == "float" and ex["f"][1].tolist() == [1.5, -2.5]
    assert ex["i"][0] == "int64" and ex["i"][1].tolist() == [-1, 5, 2**40]
    assert ex["s"] == ("bytes", [b"a", b"bc"])


def test_tfrecord_file_round_trip_and_corruption(tmp_path):
    records = [
        serialize_example({"v": serialize_tensor(np.full(1000, k, dtype=np.float32))}) for k in range(3)
    ]
    path = tmp_path / "a.tfrecord"
    write_tfrecord(path, records)
    assert list(iter_tfrecord(path)) == records
    index = tfrecord_index(path)
    assert [ln for _, ln in index] == [len(r) for r in records] and index[0][0] == 12
    raw = bytearray(path.read_bytes())
    raw[index[1][0] + 50] ^= 1  # one bit inside the data of the second record
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="data CRC mismatch"):
        list(iter_tfrecord(bad))
    assert len(list(iter_tfrecord(bad, verify=False))) == 3
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1  # the length field
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt record length"):
        tfrecord_index(bad)
    bad.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        tfrecord_index(bad)
