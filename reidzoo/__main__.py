"""`python -m reidzoo ...` is the `reidzoo` command."""
from reidzoo.cli import console

if __name__ == "__main__":
    console()
