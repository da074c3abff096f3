import sys

from raftfuzz.cli import main

sys.exit(main())
