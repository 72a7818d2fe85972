"""Reliability issue, item 4: a cache entry is bound to the key it was computed for.

An entry with a valid content hash copied onto another key's file name (the hostile
run's swaps) is a miss like a byte flip: recomputed, replaced, and the next read hits.
One test for the store itself, then one reproduction per cache that uses it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from nbsmt.cli import main
from nbsmt.core.cache import Cache
from nbsmt.hw.design import Design


def _swap(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


def _payload(path: Path) -> dict:
    """The JSON payload of a cache entry file (the line after the header)."""
    return json.loads(path.read_bytes().partition(b"\n")[2])


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


# ----------------------------------------------------------------------------------------
# The store


def test_an_entry_copied_onto_another_key_is_a_miss_then_replaced(tmp_path, capsys):
    cache = Cache(tmp_path)
    cache.put_json("synth", "a", {"area": 1.0})
    cache.put_json("synth", "b", {"area": 2.0})
    cache.put_text("verilog", "a", "module a();\nendmodule\n")
    cache.put_text("verilog", "b", "module b();\nendmodule\n")
    shutil.copyfile(tmp_path / "synth" / "a.json", tmp_path / "synth" / "b.json")
    shutil.copyfile(tmp_path / "verilog" / "a.txt", tmp_path / "verilog" / "b.txt")
    # the same key under another kind is another key too
    (tmp_path / "timing").mkdir()
    shutil.copyfile(tmp_path / "synth" / "a.json", tmp_path / "timing" / "a.json")

    assert cache.get_json("synth", "b") is None                  # miss, not a's area
    assert not (tmp_path / "synth" / "b.json").exists()          # discarded
    assert cache.get_text("verilog", "b") is None
    assert cache.get_json("timing", "a") is None
    notices = capsys.readouterr().err.strip().splitlines()
    assert len(notices) == 3 and all("discarded, recomputing" in n for n in notices), notices

    cache.put_json("synth", "b", {"area": 2.0})                  # the caller recomputes
    cache.put_text("verilog", "b", "module b();\nendmodule\n")
    assert cache.get_json("synth", "b") == {"area": 2.0}         # replaced: the next read hits
    assert cache.get_text("verilog", "b") == "module b();\nendmodule\n"
    assert cache.get_json("synth", "a") == {"area": 1.0}         # the original is untouched
    assert capsys.readouterr().err == ""


def test_an_entry_without_a_stored_key_is_a_miss_and_is_replaced(tmp_path, capsys):
    """The format before keys were stored: header `nbsmt-cache sha256=HASH`, then the
    payload. A miss, never an error; the recomputed entry replaces it."""
    import hashlib
    cache = Cache(tmp_path)
    payload = b'{"area": 1.0}\n'
    (tmp_path / "synth").mkdir()
    old = tmp_path / "synth" / "k.json"
    old.write_bytes(b"nbsmt-cache sha256=" + hashlib.sha256(payload).hexdigest().encode()
                    + b"\n" + payload)
    assert cache.get_json("synth", "k") is None
    cache.put_json("synth", "k", {"area": 1.0})
    assert cache.get_json("synth", "k") == {"area": 1.0}
    assert b"synth/k.json" in old.read_bytes().partition(b"\n")[0]   # the key is stored now


def test_byte_flips_and_truncation_are_still_misses(tmp_path, capsys):
    cache = Cache(tmp_path)
    cache.put_json("synth", "k", {"area": 1.0})
    path = tmp_path / "synth" / "k.json"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01                                             # a flipped payload byte
    path.write_bytes(bytes(data))
    assert cache.get_json("synth", "k") is None and not path.exists()
    cache.put_json("synth", "k", {"area": 1.0})
    path.write_bytes(path.read_bytes()[:-4])                     # truncated
    assert cache.get_json("synth", "k") is None and not path.exists()
    cache.put_json("synth", "k", {"area": 1.0})
    header = bytearray(path.read_bytes())
    header[header.index(b"key=") + 4] ^= 0x01                    # a flipped byte of the key
    path.write_bytes(bytes(header))
    assert cache.get_json("synth", "k") is None and not path.exists()
    notices = capsys.readouterr().err.strip().splitlines()
    assert len(notices) == 3 and all("discarded, recomputing" in n for n in notices), notices


# ----------------------------------------------------------------------------------------
# (a) the Verilog cache (hw/generate.py cached_verilog, Design.generate)


def test_swapped_verilog_entries_of_two_designs_each_give_their_own_module(tmp_path):
    # (Already caught before keys were stored, by the check of the top module's name.)
    cache = Cache(tmp_path)
    one, two = Design.pe(1), Design.pe(2)
    text_one, text_two = one.verilog(cache), two.verilog(cache)
    _swap(*_entries(tmp_path / "verilog"))
    assert one.verilog(cache) == text_one and two.verilog(cache) == text_two
    assert one.generate(cache) == (text_one, 0.0)               # replaced: hits again


def test_swapped_verilog_entries_without_a_top_name_each_give_their_own_module(tmp_path):
    """Keys that name no top module (as in tests/test_generate.py): only the key tells
    the entries apart."""
    from nbsmt.hw.generate import cached_verilog
    cache = Cache(tmp_path)
    one, two = Design.pe(1), Design.pe(2)
    text_one, _ = cached_verilog({"pe": 1}, lambda: (one.elaborate(), one.name), cache)
    text_two, _ = cached_verilog({"pe": 2}, lambda: (two.elaborate(), two.name), cache)
    _swap(*_entries(tmp_path / "verilog"))
    again_one, _ = cached_verilog({"pe": 1}, lambda: (one.elaborate(), one.name), cache)
    again_two, _ = cached_verilog({"pe": 2}, lambda: (two.elaborate(), two.name), cache)
    assert "module nbsmt_pe_t1(" in again_one and "module nbsmt_pe_t2(" in again_two
    assert (again_one, again_two) == (text_one, text_two)
    assert cached_verilog({"pe": 2}, lambda: (two.elaborate(), two.name), cache) == (text_two, 0.0)


# ----------------------------------------------------------------------------------------
# (b) the synthesis cache (synth/flow.py _run_cached)


def test_swapped_synthesis_entries_give_the_areas_of_a_clean_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    argv = ["synth", "--pe", "--threads", "1", "2", "--no-timing", "--flat-check", "0",
            "--jobs", "1", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]

    def areas():
        records = json.loads((tmp_path / "out" / "area.json").read_text())["records"]
        return [(r["name"], r["area_ge"], r["area_um2"], r["transistors"]) for r in records]

    assert main(argv) == 0
    clean = areas()
    capsys.readouterr()
    entries = _entries(tmp_path / "cache" / "synth")
    assert len(entries) == 2
    _swap(*entries)
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert areas() == clean and all(ge > 0 for _, ge, _, _ in clean)
    assert " 0 GE" not in out and "Traceback" not in err
    assert err.count("discarded, recomputing") == 2, err
    assert main(argv) == 0                                       # replaced: all cached now
    records = json.loads((tmp_path / "out" / "area.json").read_text())["records"]
    assert all(r["cached"] for r in records) and areas() == clean


# ----------------------------------------------------------------------------------------
# (c) the sweep cache (sweep/run.py Sweep._cached)


def test_an_area_entry_copied_onto_a_cycles_key_gives_the_clean_report(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    args = ["sweep", "--sizes", "2", "--threads", "1", "2", "--metrics", "area,cycles",
            "--workers", "0", "--cache", str(tmp_path / "cache")]

    def rows(out):
        return json.loads((tmp_path / out / "sweep.json").read_text())["rows"]

    assert main([*args, "--out", str(tmp_path / "clean")]) == 0
    clean = rows("clean")
    entries = _entries(tmp_path / "cache" / "sweep")
    area = [p for p in entries if "area_ge" in _payload(p)["values"]]
    cycles = [p for p in entries if "cycles" in _payload(p)["values"]]
    assert len(area) == len(cycles) == 2
    # the 2T area (the larger) onto the 1T cycles key (the larger count)
    area_2t = max(area, key=lambda p: _payload(p)["values"]["area_ge"])
    cycles_1t = max(cycles, key=lambda p: _payload(p)["values"]["cycles"])
    shutil.copyfile(area_2t, cycles_1t)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    assert rows("again") == clean
    assert capsys.readouterr().err.count("discarded, recomputing") == 1
    assert main([*args, "--out", str(tmp_path / "third")]) == 0  # replaced: all cached now
    assert capsys.readouterr().out.count("(cached)") == 2 and rows("third") == clean


# ----------------------------------------------------------------------------------------
# (d) the energy cache (energy/array.py mapped_array, kind "mapped")


def test_swapped_mapped_netlists_are_remapped_and_the_runs_succeed(tmp_path, monkeypatch):
    """A direct gate-level run of each of two tiny arrays, the 'mapped' entries swapped,
    then the runs again: each maps its own array (before keys were stored the runs
    failed their bit-exact check, every time)."""
    from nbsmt.energy.array import run_array
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (2, 3)).astype(np.int64)
    w = rng.integers(-128, 128, (3, 2)).astype(np.int64)
    designs = [Design.array(1, 1, 1), Design.array(1, 2, 1)]

    def energies():
        return [run_array(a, w, design=d, model="zero-delay", workdir=tmp_path / "work")
                .energy.total for d in designs]

    clean = energies()
    _swap(*_entries(tmp_path / "build" / "energy-cache" / "mapped"))
    assert energies() == clean
