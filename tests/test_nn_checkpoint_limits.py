"""Crafted model files cannot exhaust memory or time: every size is read from the zip's
directory and the .npy headers and checked against the description and the documented
limits before anything is allocated or built (issue 12, item 2).

Each refusal is measured: a SerializationError naming the file, at most 4 MB allocated
(tracemalloc counts NumPy's arrays) and under a second, where the loader used to build the
whole network (15.6 s, 1.9 GB) or raise MemoryError (6.7 GiB, 3.7 GiB, 7.28 TiB).
"""

from __future__ import annotations

import struct
import zipfile
import zlib

import numpy as np
import pytest
from checkpointhelpers import (
    mlp_description,
    npy_header,
    refused_cheaply,
    write_npz,
)
from numpy.lib import format as npy_format

import nn
from nn import checkpoint_file
from nn.serialize import read_state


def test_a_large_description_with_missing_arrays_is_refused_before_building(tmp_path):
    # The file: 1 KB of description for 3*3000 + 3001*3000 + 3001 parameters, and
    # only the first layer's arrays.  It is over the parameter limit, which is checked first.
    first = {"layers.0.weight": np.zeros((3000, 2)), "layers.0.bias": np.zeros(3000)}
    path = write_npz(tmp_path / "big.npz", first, mlp_description([2, 3000, 3000, 1]))
    refused_cheaply(nn.load_model, path, "describes a model of 9,015,001 parameters, more "
                                         "than the limit of 5,000,000")
    # Under the limits (4,014,001 parameters, about 4 s and 0.8 GB to build), the missing
    # arrays are found from the zip's directory, before anything is built.
    first = {"layers.0.weight": np.zeros((2000, 2)), "layers.0.bias": np.zeros(2000)}
    path = write_npz(tmp_path / "under.npz", first, mlp_description([2, 2000, 2000, 1]))
    refused_cheaply(nn.load_model, path,
                    r"lacks the array 'layers.1.weight' \(4 of the 6 arrays the model needs")


def test_a_description_over_the_parameter_limit_is_refused(tmp_path):
    path = write_npz(tmp_path / "huge.npz", {}, mlp_description([2, 30000, 30000, 1]))
    parameters = 30000 * 3 + 30000 * 30001 + 30001
    refused_cheaply(nn.load_model, path,
                    f"describes a model of {parameters:,} parameters, more than the limit of "
                    "5,000,000 a model file may ask for")


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory):
    """A 4 MB zip holding a genuine 4 GB .npy (3.75 GiB of zeros after a header promising
    503,316,464 float64), deflated: 60 blocks of 64 MiB of zeros, each compressed alone."""
    segment = 64 << 20
    total = 60 * segment
    header = npy_header(((total - 128) // 8,))
    assert len(header) == 128
    zeros = bytes(segment)

    def deflate(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    first = deflate(header + zeros[:segment - len(header)])
    rest = deflate(zeros)
    stream = first + rest * 59 + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = zlib.crc32(header + zeros[:segment - len(header)])
    for _ in range(59):
        crc = zlib.crc32(zeros, crc)
    name = b"layers.0.weight.npy"
    # A plain zip written field by field (zipfile would compress the 4 GB itself).
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(stream),
                        total, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc,
                          len(stream), total, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                      len(local) + len(stream), 0)
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    path.write_bytes(local + stream + central + end)
    return path


def test_the_zip_bomb_is_what_it_claims(zip_bomb):
    assert zip_bomb.stat().st_size < 5_000_000
    with zipfile.ZipFile(zip_bomb) as archive:
        info = archive.getinfo("layers.0.weight.npy")
        assert info.file_size == 60 * (64 << 20) and info.compress_type == zipfile.ZIP_DEFLATED
        with archive.open(info) as entry:
            assert npy_format.read_magic(entry) == (1, 0)
            shape, _, dtype = npy_format.read_array_header_1_0(entry)
            assert shape == (503_316_464,) and dtype == np.float64
            assert entry.read(1 << 20) == bytes(1 << 20)  # it really decompresses


def test_a_zip_holding_a_huge_compressed_npy_is_refused_from_its_header(zip_bomb):
    refused_cheaply(nn.MLP(2, [3, 1]).load, zip_bomb,
                    r"key 'layers.0.weight' has shape \(503316464,\), expected \(3, 2\)")
    refused_cheaply(read_state, zip_bomb,
                    "holds 503,316,464 numbers, more than the limit of 5,000,000")


def test_a_header_claiming_a_trillion_numbers_is_refused(tmp_path):
    header = npy_header((10**12,))
    alone = tmp_path / "alone.npz"
    alone.write_bytes(header + bytes(200))
    refused_cheaply(nn.load_model, alone, r"is a single \.npy array \(a \.npy file named "
                                          r"\.npz\?\), not a \.npz checkpoint")
    inside = write_npz(tmp_path / "inside.npz", {"layers.0.weight": header},
                       mlp_description([2, 3, 1]))
    refused_cheaply(nn.load_model, inside,
                    r"key 'layers.0.weight' has shape \(1000000000000,\), expected \(3, 2\)")
    refused_cheaply(read_state, inside, "holds 1,000,000,000,000 numbers, more than the limit")
    # A header that matches the model but whose entry is short is refused before reading.
    short = write_npz(tmp_path / "short.npz", {"weight": npy_header((1, 50_000))},
                      {"kind": "Neuron", "nin": 50_000, "activation": "relu", "bias": False})
    refused_cheaply(nn.load_model, short, r"has an entry 'weight.npy' of 128 bytes, but its "
                                          r"header promises 400,128 \(\(1, 50000\) float64\)")


def test_a_zip_listing_too_many_entries_is_refused_before_zipfile_reads_them(tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(2100):
            archive.writestr(f"{i}.npy", b"")
    refused_cheaply(nn.load_model, path, "lists 2,100 entries in .* bytes; a checkpoint holds "
                                         "at most 2,001 arrays")


def test_a_zip64_archive_is_refused(tmp_path):
    path = nn.MLP(2, [3, 1], seed=0).save(tmp_path / "m.npz")
    data = open(path, "rb").read()
    end = data.rindex(b"PK\x05\x06")
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 10**12, 1)
    forged = tmp_path / "forged.npz"
    forged.write_bytes(data[:end] + locator + data[end:])
    refused_cheaply(nn.load_model, forged, "is a zip64 archive")


def test_a_description_over_its_size_limit_is_refused(tmp_path):
    text = '{"kind": "MLP", "pad": "' + "x" * 70_000 + '"}'
    path = write_npz(tmp_path / "long.npz", {}, text=text)
    refused_cheaply(nn.load_model, path, r"has a description \(__chainrule__\) that is not one "
                                         "text of at most 65,536 characters")


LIMITS = {"layers": "MAX_LAYERS", "inputs": "MAX_INPUTS", "neurons": "MAX_NEURONS",
          "parameters": "MAX_PARAMETERS"}


@pytest.mark.parametrize("what", sorted(LIMITS))
def test_each_limit_admits_a_model_at_it_and_refuses_one_past_it(tmp_path, monkeypatch, what):
    model = nn.MLP(3, [4, 2], seed=0)
    path = model.save(tmp_path / "m.npz")
    # The model's counts, by hand: 2 layers, 3 inputs, 4 + 2 neurons, 4*(3+1) + 2*(4+1).
    counts = {"layers": 2, "inputs": 3, "neurons": 6, "parameters": 26}
    assert counts["parameters"] == model.num_parameters()
    monkeypatch.setattr(checkpoint_file, LIMITS[what], counts[what])
    loaded = nn.load_model(path)
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    monkeypatch.setattr(checkpoint_file, LIMITS[what], counts[what] - 1)
    refused_cheaply(nn.load_model, path, f"describes a model of {counts[what]} {what}, more "
                                         f"than the limit of {counts[what] - 1}")
    # Loading into a model that already exists is bounded by that model instead.
    nn.MLP(3, [4, 2]).load(path)


def test_read_state_is_bounded_by_the_parameter_limit(tmp_path, monkeypatch):
    path = write_npz(tmp_path / "a.npz", {"a": np.ones(6), "b": np.ones((2, 2))})
    monkeypatch.setattr(checkpoint_file, "MAX_PARAMETERS", 10)
    arrays, description = read_state(path)
    assert description == {} and arrays["a"].tolist() == [1.0] * 6
    monkeypatch.setattr(checkpoint_file, "MAX_PARAMETERS", 9)
    refused_cheaply(read_state, path, "holds 10 numbers, more than the limit of 9")
