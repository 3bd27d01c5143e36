"""Stand-ins for ``tensorrt`` and ``pycuda.driver`` so that the TensorRT engine's own logic (buffers,
profiles, copies, batch splitting, cache use) runs on a machine with no GPU. The "engine" executes
the ONNX graph with ONNX Runtime on the CPU and enforces the optimisation profiles as TensorRT does.
A serialized fake engine is ``FAKE1`` + JSON header + the ONNX bytes. Not a model of TensorRT's
numerics: the GPU path itself is covered by tests/gpu on a machine that has one.
"""

from __future__ import annotations

import json
import types
from typing import Any

import numpy as np
import onnxruntime as ort

MAGIC = b"FAKE1"


def serialize(onnx_bytes: bytes, profiles: list[tuple[int, int, int]]) -> bytes:
    header = json.dumps({"profiles": profiles}).encode()
    return MAGIC + len(header).to_bytes(4, "little") + header + onnx_bytes


class _Memory:
    """Device memory: allocations addressed by integers, as CUDA pointers are."""

    def __init__(self) -> None:
        self.blocks: dict[int, np.ndarray] = {}
        self.next = 0x1000

    def alloc(self, nbytes: int) -> int:
        addr = self.next
        self.next += nbytes + 256
        self.blocks[addr] = np.zeros(nbytes, np.uint8)
        return addr


def make_pycuda() -> tuple[types.ModuleType, types.ModuleType]:
    memory = _Memory()
    driver = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class DeviceAllocation:
        def __init__(self, nbytes: int):
            self.addr = memory.alloc(nbytes)
            self.freed = False

        def __int__(self) -> int:
            return self.addr

        def free(self) -> None:
            memory.blocks.pop(self.addr)
            self.freed = True

    class Context:
        depth = 0

        def push(self) -> None:
            Context.depth += 1

        @staticmethod
        def pop() -> None:
            Context.depth -= 1

        def detach(self) -> None:
            pass

    class Device:
        def __init__(self, index: int):
            self.index = index

        @staticmethod
        def count() -> int:
            return 1

        def name(self) -> str:
            return "Fake GPU"

        def compute_capability(self) -> tuple[int, int]:
            return (8, 7)

        def retain_primary_context(self) -> Context:
            return Context()

    class Stream:
        handle = 0

        def synchronize(self) -> None:
            pass

    def _need_context() -> None:
        if Context.depth <= 0:
            raise Error("no CUDA context is current")

    def memcpy_htod_async(dest: DeviceAllocation, src: np.ndarray, stream: Any = None) -> None:
        _need_context()
        raw = np.frombuffer(np.ascontiguousarray(src).tobytes(), np.uint8)
        block = memory.blocks[int(dest)]
        if raw.size > block.size:
            raise Error("copy overruns the device allocation")
        block[: raw.size] = raw

    def memcpy_dtoh_async(dest: np.ndarray, src: DeviceAllocation, stream: Any = None) -> None:
        _need_context()
        block = memory.blocks[int(src)]
        if dest.nbytes > block.size:
            raise Error("copy overruns the device allocation")
        dest.view(np.uint8).reshape(-1)[:] = block[: dest.nbytes]

    driver.Error = Error  # type: ignore[attr-defined]
    driver.Device = Device  # type: ignore[attr-defined]
    driver.Context = Context  # type: ignore[attr-defined]
    driver.Stream = Stream  # type: ignore[attr-defined]
    driver.init = lambda: None  # type: ignore[attr-defined]
    driver.mem_alloc = DeviceAllocation  # type: ignore[attr-defined]
    driver.pagelocked_empty = lambda n, dtype: np.zeros(n, dtype)  # type: ignore[attr-defined]
    driver.memcpy_htod_async = memcpy_htod_async  # type: ignore[attr-defined]
    driver.memcpy_dtoh_async = memcpy_dtoh_async  # type: ignore[attr-defined]
    driver.memcpy_htod = memcpy_htod_async  # type: ignore[attr-defined]
    driver.memory = memory  # type: ignore[attr-defined]
    package = types.ModuleType("pycuda")
    package.driver = driver  # type: ignore[attr-defined]
    return package, driver


def make_tensorrt(memory_of: Any) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0"  # type: ignore[attr-defined]
    trt.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")  # type: ignore[attr-defined]
    trt.nptype = lambda dt: np.float32  # type: ignore[attr-defined]
    trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (), {})  # type: ignore[attr-defined]
    trt.ILogger = object  # type: ignore[attr-defined]
    trt.contexts_made = []  # type: ignore[attr-defined]

    class Logger:
        WARNING = 2

        def __init__(self, level: int):
            self.level = level

    class Context:
        def __init__(self, engine: Engine):
            self.engine = engine
            self.profile = 0
            self.addresses: dict[str, int] = {}
            self.shape: tuple[int, ...] | None = None
            self.runs = 0

        def set_optimization_profile_async(self, index: int, stream: int) -> bool:
            self.profile = index
            return True

        def set_tensor_address(self, name: str, addr: int) -> bool:
            self.addresses[name] = addr
            return True

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            lo, _, hi = self.engine.profiles[self.profile]
            if not lo <= shape[0] <= hi or tuple(shape[1:]) != self.engine.shapes[name][1:]:
                return False
            self.shape = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            assert self.shape is not None
            return (self.shape[0], *self.engine.shapes[name][1:])

        def execute_async_v3(self, stream: int) -> bool:
            assert self.shape is not None
            blocks = memory_of().blocks
            n = int(np.prod(self.shape))
            x = blocks[self.addresses[self.engine.input]].view(np.float32)[:n].reshape(self.shape)
            outs = self.engine.session.run(None, {self.engine.input: x})
            for name, out in zip(self.engine.outputs, outs, strict=True):
                raw = np.frombuffer(out.astype(np.float32).tobytes(), np.uint8)
                blocks[self.addresses[name]][: raw.size] = raw
            self.runs += 1
            return True

    class Engine:
        def __init__(self, data: bytes):
            size = int.from_bytes(data[5:9], "little")
            self.profiles = [tuple(p) for p in json.loads(data[9 : 9 + size])["profiles"]]
            self.session = ort.InferenceSession(data[9 + size :], providers=["CPUExecutionProvider"])
            self.input = self.session.get_inputs()[0].name
            self.outputs = [o.name for o in self.session.get_outputs()]
            self.shapes = {
                a.name: tuple(d if isinstance(d, int) else -1 for d in a.shape)
                for a in [*self.session.get_inputs(), *self.session.get_outputs()]
            }
            self.names = [self.input, *self.outputs]
            self.num_io_tensors = len(self.names)
            self.num_optimization_profiles = len(self.profiles)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> str:
            return "INPUT" if name == self.input else "OUTPUT"

        def get_tensor_dtype(self, name: str) -> str:
            return "FLOAT"

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shapes[name]

        def get_tensor_profile_shape(self, name: str, index: int) -> list[tuple[int, ...]]:
            rest = self.shapes[name][1:]
            return [(b, *rest) for b in self.profiles[index]]

        def create_execution_context(self) -> Context:
            ctx = Context(self)
            trt.contexts_made.append(ctx)  # type: ignore[attr-defined]
            return ctx

    class Runtime:
        def __init__(self, logger: Logger):
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            return Engine(data) if data.startswith(MAGIC) else None

    trt.Logger = Logger  # type: ignore[attr-defined]
    trt.Runtime = Runtime  # type: ignore[attr-defined]
    return trt
