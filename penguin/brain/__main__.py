"""`python -m penguin.brain`: each preset with its parameter count (built on `meta`, no memory)."""
from penguin.brain.brain import parameter_count
from penguin.brain.config import PRESETS

for name in PRESETS:
    print(f"{name} — {parameter_count(name) / 1e6:.1f} M parameters")
