#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The earlier name of :mod:`tuss_plugin.bin.import_release` (same options and outputs)."""

import sys
from typing import List, Optional

from tuss_plugin.bin.import_release import get_parser
from tuss_plugin.bin.import_release import main as _main

__all__ = ["get_parser", "main"]


def main(cmd: Optional[List[str]] = None) -> int:
    return _main(cmd, prog="import_reference")


if __name__ == "__main__":
    sys.exit(main())
