import sys

from dcgan_runtime.cli import main

sys.exit(main())
