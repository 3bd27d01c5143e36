"""Real protocol peers (pymodbus server, libosdp PD and CP) that stand in for field hardware in tests and
benchmarks; they speak the same bytes over a serial line as the devices they imitate."""
