"""PID files: a live recorded process blocks a second queue; a dead or garbled one does not;
the file is removed when the holder ends."""
import os
import subprocess
import sys

import pytest

from mmace_fast.pidfile import alive, pid_lock, running_pid


def test_pid_lock_blocks_while_the_holder_lives_and_cleans_up(tmp_path):
    f = tmp_path / "q.pid"
    with pid_lock(f):
        assert running_pid(f) == os.getpid()
    assert not f.exists()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        f.write_text(f"{child.pid}\n")
        assert alive(child.pid) and running_pid(f) == child.pid
        with pytest.raises(SystemExit, match=f"PID {child.pid}"):
            with pid_lock(f, "a training queue"):
                pass
    finally:
        child.kill()
        child.wait()
    assert running_pid(f) is None                 # dead: the next holder takes over
    with pid_lock(f):
        pass
    f.write_text("garbage")
    assert running_pid(f) is None
