"""The API process stays light: torch (hundreds of MB, seconds to import) lives in workers only."""
import subprocess
import sys


def test_the_api_does_not_import_torch():
    code = "import sys, effigies.api.app; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "an API module imports torch"
