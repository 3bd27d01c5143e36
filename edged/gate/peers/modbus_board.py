"""A Modbus RTU relay/IO board: a pymodbus serial server whose coils and discrete inputs are observable."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

BITS = 16  # coils 0..15 and discrete inputs 0..15
FC_READ_DISCRETE_INPUTS = 2
FC_WRITE_COIL = 5
FC_WRITE_COILS = 15
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class CoilWrite:
    coil: int
    on: bool
    at: float  # time.perf_counter() when the board took it


class ModbusIoBoard:
    """Serves slave ``slave_id`` on ``port`` from its own event-loop thread until ``close``."""

    def __init__(self, port: str, slave_id: int = 1, baudrate: int = 115200) -> None:
        self.port = port
        self.slave_id = slave_id
        self.baudrate = baudrate
        self.writes: list[CoilWrite] = []
        self._inputs = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._loop = asyncio.new_event_loop()
        self._server: ModbusSerialServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modbus-board", daemon=True)
        self._thread.start()
        if not self._ready.wait(5.0):
            raise RuntimeError(f"modbus board on {port} did not start")

    def set_input(self, number: int, on: bool) -> None:
        with self._lock:
            self._inputs = self._inputs | (1 << number) if on else self._inputs & ~(1 << number)

    def coil_on(self, coil: int) -> bool:
        with self._lock:
            state = False
            for write in self.writes:
                if write.coil == coil:
                    state = write.on
            return state

    def rising_edges(self, coil: int) -> list[float]:
        """When ``coil`` went from off to on (each is one open of the turnstile)."""
        with self._lock:
            edges, state = [], False
            for write in self.writes:
                if write.coil == coil:
                    if write.on and not state:
                        edges.append(write.at)
                    state = write.on
            return edges

    def wait_for(self, coil: int, on: bool, timeout: float, since: float) -> float | None:
        """Block until ``coil`` has been written to ``on`` at or after ``since`` (``time.perf_counter``);
        the board's receive time, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for write in self.writes:
                    if write.coil == coil and write.on == on and write.at >= since:
                        return write.at
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def close(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5.0)
        self._thread.join(timeout=5.0)
        self._loop.close()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> None:
        now = time.perf_counter()
        with self._lock:
            if function_code == FC_READ_DISCRETE_INPUTS:
                registers[0] = self._inputs
            elif function_code in (FC_WRITE_COIL, FC_WRITE_COILS) and values is not None:
                for i, value in enumerate(values):
                    self.writes.append(CoilWrite(address + i, bool(value), now))
                self._changed.notify_all()
        return None

    async def _serve(self) -> None:
        device = SimDevice(
            id=self.slave_id,
            simdata=(
                [SimData(0, count=1, values=False, datatype=DataType.BITS)],
                [SimData(0, count=1, values=False, datatype=DataType.BITS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )
        self._server = ModbusSerialServer(
            device, framer=FramerType.RTU, port=self.port, baudrate=self.baudrate, reconnect_delay=0.2
        )
        await self._server.serve_forever(background=True)  # returns once the port is open
        self._ready.set()
        await self._server.serving

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
