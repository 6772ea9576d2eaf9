"""`python -m cion ...` (and `torchrun -m cion ...`) is the `cion` command."""
from cion.cli import console

if __name__ == "__main__":
    console()
