"The registry's cases, one file per family (`regression.py` ... `combination.py`, `multitarget.py`); `tests/registry.py` assembles them"
