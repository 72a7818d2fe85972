"""The bottom layer every other package shares: the arithmetic policy, errors, atomic
outputs, content-addressed caches, interrupts, the simulator toolchain, operand files,
plotting and table formatting. It imports no other nbsmt package."""
