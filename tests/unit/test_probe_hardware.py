"""Hardware probing: the real probe_gpus code path driven by recorded NVML snapshots (there is no GPU on the build
machines), /proc-style files in tmp_path, an unreachable Docker engine, and --hardware files, good and bad."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pynvml
import pytest
from typer.testing import CliRunner

from modeldeploy.errors import UserInputError
from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.tools.hardware.engine_probe import probe_engine
from modeldeploy.tools.hardware.host_probe import probe_cpu, probe_disk_free_gib, probe_memory_mib
from modeldeploy.tools.hardware.nvml_probe import probe_gpus
from modeldeploy.tools.hardware.probe import load_hardware_file, probe_hardware

ROOT = Path(__file__).resolve().parents[2]
NVML_SNAPSHOTS = sorted((ROOT / "tests" / "fixtures" / "nvml").glob("*.json"))
MACHINES = sorted((ROOT / "tests" / "fixtures" / "machines").glob("*.json"))
MIB = 1024 * 1024
NVIDIA_DRIVER = Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia/version").exists()


class FakeNvmlFromSnapshot:
    """A stand-in for the ``pynvml`` module (no GPU here), answering from a recorded NVML snapshot.

    It has the pynvml calls probe_gpus uses, refuses device calls before nvmlInit as NVML does,
    and can answer in bytes the way pynvml releases before 11.5 did.
    """

    def __init__(self, snapshot: dict, *, legacy_bytes: bool = False, init_error: Exception | None = None,
                 shutdown_error: Exception | None = None):
        self.snapshot = snapshot
        self.legacy_bytes = legacy_bytes
        self.init_error = init_error
        self.shutdown_error = shutdown_error
        self.initialised = False
        self.shutdowns = 0

    @classmethod
    def from_file(cls, path: Path, **kwargs) -> "FakeNvmlFromSnapshot":
        return cls(json.loads(path.read_text()), **kwargs)

    def _text(self, value: str) -> str | bytes:
        return value.encode() if self.legacy_bytes else value

    def _ready(self) -> None:
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1
        self.initialised = False
        if self.shutdown_error is not None:
            raise self.shutdown_error

    def nvmlSystemGetDriverVersion(self):
        self._ready()
        return self._text(self.snapshot["driver_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._ready()
        return self.snapshot["cuda_driver_version_int"]

    def nvmlDeviceGetCount(self) -> int:
        self._ready()
        return len(self.snapshot["devices"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict:
        self._ready()
        if not 0 <= index < len(self.snapshot["devices"]):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.snapshot["devices"][index]

    def nvmlDeviceGetMemoryInfo(self, handle: dict):
        self._ready()
        return SimpleNamespace(**handle["memory"])  # c_nvmlMemory_t has .total/.free/.used in bytes

    def nvmlDeviceGetCudaComputeCapability(self, handle: dict) -> tuple[int, int]:
        self._ready()
        major, minor = handle["cuda_compute_capability"]
        return major, minor

    def nvmlDeviceGetName(self, handle: dict):
        self._ready()
        return self._text(handle["name"])

    def nvmlDeviceGetUUID(self, handle: dict):
        self._ready()
        return self._text(handle["uuid"])


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "\r" not in message, repr(message)


# --------------------------------------------------------------------------- NVML


@pytest.mark.parametrize("legacy_bytes", [False, True], ids=["str-pynvml", "bytes-old-pynvml"])
@pytest.mark.parametrize("snapshot_path", NVML_SNAPSHOTS, ids=[p.stem for p in NVML_SNAPSHOTS])
def test_probe_gpus_reads_every_recorded_snapshot(snapshot_path, legacy_bytes):
    snapshot = json.loads(snapshot_path.read_text())
    nvml = FakeNvmlFromSnapshot(snapshot, legacy_bytes=legacy_bytes)
    gpus, driver, cuda, note = probe_gpus(nvml)

    assert note is None
    assert driver == snapshot["driver_version"] and isinstance(driver, str)
    cuda_int = snapshot["cuda_driver_version_int"]
    assert cuda == f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
    assert len(gpus) == len(snapshot["devices"])
    for index, (gpu, device) in enumerate(zip(gpus, snapshot["devices"])):
        assert gpu.index == index
        assert gpu.name == device["name"] and isinstance(gpu.name, str)
        assert gpu.uuid == device["uuid"] and isinstance(gpu.uuid, str)
        assert gpu.memory_total_mib == device["memory"]["total"] // MIB
        assert gpu.memory_free_mib == device["memory"]["free"] // MIB
        major, minor = device["cuda_compute_capability"]
        assert gpu.compute_capability == f"{major}.{minor}"
    assert nvml.shutdowns == 1 and not nvml.initialised


@pytest.mark.parametrize("snapshot_path", NVML_SNAPSHOTS, ids=[p.stem for p in NVML_SNAPSHOTS])
def test_probed_snapshot_matches_the_recorded_machine_file(tmp_path, snapshot_path):
    """The NVML snapshot and the hand-kept machine file of the same machine describe the same GPUs."""
    probed = probe_hardware(tmp_path, nvml=FakeNvmlFromSnapshot.from_file(snapshot_path), with_engine=False)
    recorded = load_hardware_file(ROOT / "tests" / "fixtures" / "machines" / snapshot_path.name)
    assert probed.source == "probe"
    assert [(g.name, g.memory_total_mib, g.memory_free_mib, g.compute_capability) for g in probed.gpus] == \
        [(g.name, g.memory_total_mib, g.memory_free_mib, g.compute_capability) for g in recorded.gpus]
    assert (probed.driver_version, probed.cuda_driver_version) == (recorded.driver_version, recorded.cuda_driver_version)
    assert probed.fingerprint() == recorded.fingerprint()


def test_a100_snapshot_specifics():
    gpus, driver, cuda, _ = probe_gpus(FakeNvmlFromSnapshot.from_file(ROOT / "tests/fixtures/nvml/a100-80gb-x4.json"))
    assert (driver, cuda) == ("550.54.15", "12.4")
    assert [g.name for g in gpus] == ["NVIDIA A100-SXM4-80GB"] * 4
    assert {g.memory_total_mib for g in gpus} == {81920}
    assert {g.compute_capability for g in gpus} == {"8.0"}
    assert len({g.uuid for g in gpus}) == 4


@pytest.mark.parametrize("cuda_int,text", [(12040, "12.4"), (12060, "12.6"), (11080, "11.8"), (12090, "12.9"),
                                           (13000, "13.0"), (12020, "12.2")])
def test_cuda_driver_version_int_becomes_major_dot_minor(cuda_int, text):
    snapshot = json.loads((ROOT / "tests/fixtures/nvml/rtx4090-x1.json").read_text())
    snapshot["cuda_driver_version_int"] = cuda_int
    _, _, cuda, _ = probe_gpus(FakeNvmlFromSnapshot(snapshot))
    assert cuda == text


@pytest.mark.parametrize("code,name", [(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVMLError_LibraryNotFound"),
                                        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVMLError_DriverNotLoaded")],
                         ids=["library-not-found", "driver-not-loaded"])
def test_nvml_init_failure_means_no_gpus_and_a_note(code, name):
    nvml = FakeNvmlFromSnapshot({"devices": []}, init_error=pynvml.NVMLError(code))
    gpus, driver, cuda, note = probe_gpus(nvml)
    assert (gpus, driver, cuda) == ([], None, None)
    assert note == f"NVML unavailable: {name}"


def test_nvml_shutdown_failure_does_not_hide_the_facts():
    snapshot = json.loads((ROOT / "tests/fixtures/nvml/t4-x2.json").read_text())
    nvml = FakeNvmlFromSnapshot(snapshot, shutdown_error=pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN))
    gpus, _, cuda, note = probe_gpus(nvml)
    assert (len(gpus), cuda, note) == (2, "12.2", None)


@pytest.mark.skipif(NVIDIA_DRIVER, reason="this machine has an NVIDIA driver")
def test_real_pynvml_on_this_machine_reports_no_gpus():
    gpus, driver, cuda, note = probe_gpus()  # the installed pynvml; no NVIDIA driver on the build machines
    assert (gpus, driver, cuda) == ([], None, None)
    assert note is not None and note.startswith("NVML unavailable")


# --------------------------------------------------------------------------- host: CPU, memory, disk

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu vme sse sse2 avx avx2 fma f16c avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8 sha_ni

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Some Other CPU
flags\t\t: fpu sse
"""

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid sve
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(
    "text,model,flags",
    [
        (X86_CPUINFO, "Intel(R) Xeon(R) Platinum 8488C",
         ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "fma", "f16c"]),
        (ARM_CPUINFO, "unknown", ["asimd", "sve"]),
        ("", "unknown", []),
    ],
    ids=["x86-sapphire-rapids", "arm-graviton", "empty"],
)
def test_probe_cpu_reads_model_and_relevant_flags(tmp_path, text, model, flags):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    cpu = probe_cpu(cpuinfo)
    assert cpu.model == model
    assert cpu.flags == flags
    assert cpu.cores >= 1


def test_probe_cpu_without_cpuinfo_file(tmp_path):
    cpu = probe_cpu(tmp_path / "missing")
    assert (cpu.model, cpu.flags) == ("unknown", [])


def test_probe_memory_mib_reads_memtotal(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemFree:         1000 kB\nMemTotal:       32795132 kB\nSwapTotal: 0 kB\n")
    assert probe_memory_mib(meminfo) == 32795132 // 1024


@pytest.mark.parametrize("text", [None, "MemTotal: lots kB\n", "nothing useful\n"], ids=["missing", "garbled", "no-memtotal"])
def test_probe_memory_mib_falls_back_to_sysconf(tmp_path, text):
    meminfo = tmp_path / "meminfo"
    if text is not None:
        meminfo.write_text(text)
    expected = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB
    assert probe_memory_mib(meminfo) == expected > 0


def test_probe_disk_free_of_a_nonexistent_nested_path_uses_the_nearest_parent(tmp_path):
    target = tmp_path / "not" / "yet" / "created" / "weights"
    free = probe_disk_free_gib(target)
    assert not target.exists() and not (tmp_path / "not").exists()  # probing creates nothing
    assert free == pytest.approx(shutil.disk_usage(tmp_path).free / 1024**3, abs=0.2)


# --------------------------------------------------------------------------- container engine


@pytest.mark.parametrize("host", ["unix:///{tmp}/nonexistent.sock", "tcp://127.0.0.1:1"], ids=["missing-socket", "closed-port"])
def test_unreachable_engine_is_reported_not_raised(tmp_path, monkeypatch, host):
    monkeypatch.setenv("DOCKER_HOST", host.format(tmp=str(tmp_path).lstrip("/")))
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    engine = probe_engine(timeout=2)
    assert engine.reachable is False
    assert engine.error
    _one_line(engine.error)
    assert (engine.version, engine.runtimes, engine.nvidia_runtime) == (None, [], False)


# --------------------------------------------------------------------------- --hardware files


@pytest.mark.parametrize("path", MACHINES, ids=[p.stem for p in MACHINES])
def test_every_machine_fixture_loads(path):
    hw = load_hardware_file(path)
    raw = json.loads(path.read_text())
    assert hw.source == "file"
    assert len(hw.gpus) == len(raw["gpus"])
    assert hw.memory_total_mib == raw["memory_total_mib"]
    if hw.gpus:
        assert hw.cuda is not None and hw.cuda >= (11, 0)
    assert hw.summary()


BASE = json.loads((ROOT / "tests/fixtures/machines/t4-x2.json").read_text())


def _with(change) -> dict:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


NONSENSE = [
    ("not-json", "this is not json", "malformed JSON"),
    ("empty-file", "", "malformed JSON"),
    ("json-list", [BASE], "expected a JSON object"),
    ("json-string", "\"t4\"", "expected a JSON object"),
    ("gpus-as-string", _with(lambda d: d.update(gpus="2x T4")), "gpus"),
    ("negative-host-memory", _with(lambda d: d.update(memory_total_mib=-1)), "memory_total_mib"),
    ("negative-gpu-memory", _with(lambda d: d["gpus"][0].update(memory_total_mib=-15360)), "gpus.0.memory_total_mib"),
    ("negative-disk", _with(lambda d: d.update(disk_free_gib=-3)), "disk_free_gib"),
    ("free-above-total", _with(lambda d: d["gpus"][1].update(memory_free_mib=99999)), "exceeds memory_total_mib"),
    ("compute-capability-word", _with(lambda d: d["gpus"][0].update(compute_capability="eight")), "compute_capability"),
    ("top-level-typo", _with(lambda d: d.update(gpu=d.pop("gpus"))), "gpu: Extra inputs are not permitted"),
    ("gpu-key-typo", _with(lambda d: d["gpus"][0].update(memory_totl_mib=1)), "memory_totl_mib"),
    ("gpus-without-cuda-version", _with(lambda d: d.pop("cuda_driver_version")), "cuda_driver_version is missing"),
    ("cuda-version-word", _with(lambda d: d.update(cuda_driver_version="twelve")), "cuda_driver_version"),
    ("missing-cpu", _with(lambda d: d.pop("cpu")), "cpu"),
    ("zero-cores", _with(lambda d: d["cpu"].update(cores=0)), "cpu.cores"),
    ("unknown-source", _with(lambda d: d.update(source="guess")), "source"),
    ("binary", bytes(range(256)) * 8, "cannot read hardware file"),
    ("utf16", json.dumps(BASE).encode("utf-16"), "cannot read hardware file"),
]


def _write(path: Path, content: object) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    return path


@pytest.mark.parametrize("content,fragment", [(c, f) for _, c, f in NONSENSE], ids=[i for i, _, _ in NONSENSE])
def test_nonsense_hardware_files_are_one_line_user_errors(tmp_path, content, fragment):
    path = _write(tmp_path / "hw.json", content)
    with pytest.raises(UserInputError) as info:
        load_hardware_file(path)
    message = str(info.value)
    _one_line(message)
    assert fragment in message
    assert str(path) in message


def test_missing_hardware_file(tmp_path):
    with pytest.raises(UserInputError) as info:
        load_hardware_file(tmp_path / "nope.json")
    _one_line(str(info.value))
    assert "no such hardware file" in str(info.value)


def test_directory_as_hardware_file(tmp_path):
    with pytest.raises(UserInputError) as info:
        load_hardware_file(tmp_path)
    _one_line(str(info.value))



@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
                         ids=["nested-lists", "nested-objects"])
def test_deeply_nested_hardware_file_is_a_user_error(tmp_path, text):
    with pytest.raises(UserInputError):
        load_hardware_file(_write(tmp_path / "hw.json", text))



@pytest.mark.parametrize("raw", ['"disk_free_gib": Infinity', '"memory_total_mib": true'],
                         ids=["infinite-disk", "boolean-memory"])
def test_impossible_numbers_are_refused(tmp_path, raw):
    key = raw.split('"')[1]
    doc = {k: v for k, v in BASE.items() if k != key}
    text = json.dumps(doc)[:-1] + ", " + raw + "}"
    with pytest.raises(UserInputError):
        load_hardware_file(_write(tmp_path / "hw.json", text))


# --------------------------------------------------------------------------- probe output round-trips


@pytest.mark.parametrize("snapshot_path", [None, *NVML_SNAPSHOTS], ids=["this-machine", *[p.stem for p in NVML_SNAPSHOTS]])
def test_probe_json_round_trips_through_load_hardware_file(tmp_path, monkeypatch, snapshot_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    nvml = FakeNvmlFromSnapshot.from_file(snapshot_path) if snapshot_path else None
    probed = probe_hardware(tmp_path / "weights", nvml=nvml, with_engine=True)
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(probed.model_dump(mode="json")))
    loaded = load_hardware_file(path)
    assert loaded == probed
    assert loaded.fingerprint() == probed.fingerprint()
    assert loaded.container_engine is not None and loaded.container_engine.reachable is False


def test_modeldeploy_probe_json_command_output_is_a_valid_hardware_file(tmp_path, monkeypatch):
    from modeldeploy.cli.main import app

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = CliRunner().invoke(app, ["probe", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    document = json.loads(result.stdout)
    path = tmp_path / "probe.json"
    path.write_text(result.stdout)
    loaded = load_hardware_file(path)
    assert loaded.model_dump(mode="json") == document
    assert loaded.source == "probe"
    if not NVIDIA_DRIVER:
        assert loaded.gpus == []  # no GPU on the build machines
    assert HardwareFacts.model_validate(document) == loaded
