"""Persistent named shells: exec, view, wait, write, kill."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .conftest import Api, Target


@pytest.fixture(scope="module")
def prompt_parts(api: Api) -> tuple[str, str, str]:
    """(user, hostname, home) as the server's shells see them."""
    user, host, home = api.sh('id -un; hostname; printf %s "$HOME"').split("\n")
    return user, host, home


def ps1(parts: tuple[str, str, str], cwd: str) -> str:
    user, host, home = parts
    shown = "~" + cwd[len(home) :] if home != "/" and (cwd == home or cwd.startswith(home + "/")) else cwd
    return f"{user}@{host}:{shown} $"


def wait_until(predicate: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_exec_runs_a_command_and_returns_output_and_exit_code(
    api: Api, shell_id: str, prompt_parts: tuple[str, str, str], work: str
) -> None:
    data = api.ok("/shell/exec", id=shell_id, exec_dir=work, command="echo hello; echo oops >&2; (exit 7)")

    record = {"ps1": ps1(prompt_parts, work), "command": "echo hello; echo oops >&2; (exit 7)",
              "output": "hello\noops\n"}  # fmt: skip
    assert data == {"id": shell_id, "status": "completed", "returncode": 7, "output": "hello\noops\n",
                    "console": [record]}  # fmt: skip


def test_cwd_env_and_background_jobs_persist_between_commands(
    api: Api, shell_id: str, prompt_parts: tuple[str, str, str], work: str
) -> None:
    first = api.ok("/shell/exec", id=shell_id, command=f"cd {work}; export ANKER_T=persisted; sleep 30 &")
    assert (first["status"], first["returncode"]) == ("completed", 0)

    second = api.ok("/shell/exec", id=shell_id, command='pwd; echo "$ANKER_T"; jobs')

    assert second["output"] == f"{work}\npersisted\n[1]+  Running                 sleep 30 &\n"
    assert second["console"][-1]["ps1"] == ps1(prompt_parts, work)
    assert [r["command"] for r in second["console"]] == [
        f"cd {work}; export ANKER_T=persisted; sleep 30 &",
        'pwd; echo "$ANKER_T"; jobs',
    ]
    api.ok("/shell/exec", id=shell_id, command="kill %1; wait")


def test_two_named_shells_are_independent(api: Api, shell_id: str, work: str, home: str) -> None:
    other = shell_id + "-b"
    try:
        api.ok("/shell/exec", id=shell_id, command=f"cd {work}; export WHO=first")
        api.ok("/shell/exec", id=other, command="export WHO=second")

        a = api.ok("/shell/exec", id=shell_id, command='pwd; echo "$WHO"')
        b = api.ok("/shell/exec", id=other, command='pwd; echo "$WHO"')

        assert a["output"] == f"{work}\nfirst\n"
        assert b["output"] == f"{home}\nsecond\n"
        assert [r["command"] for r in b["console"]] == ["export WHO=second", 'pwd; echo "$WHO"']
    finally:
        api.post("/shell/kill", id=other)


def test_view_shows_every_command_of_the_shell(
    api: Api, shell_id: str, prompt_parts: tuple[str, str, str], home: str, work: str
) -> None:
    api.ok("/shell/exec", id=shell_id, command="echo one")
    api.ok("/shell/exec", id=shell_id, command=f"cd {work}")
    api.ok("/shell/exec", id=shell_id, command="printf 'two\\nthree\\n'")

    data = api.ok("/shell/view", id=shell_id)

    assert data == {
        "id": shell_id,
        "output": "two\nthree\n",
        "console": [
            {"ps1": ps1(prompt_parts, home), "command": "echo one", "output": "one\n"},
            {"ps1": ps1(prompt_parts, home), "command": f"cd {work}", "output": ""},
            {"ps1": ps1(prompt_parts, work), "command": "printf 'two\\nthree\\n'", "output": "two\nthree\n"},
        ],
    }


def test_view_of_an_unknown_shell_is_404(api: Api) -> None:
    response = api.post("/shell/view", id="never-started")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "no shell named 'never-started'"}


def test_a_long_command_reports_running_then_wait_returns_when_it_ends(api: Api, shell_id: str, work: str) -> None:
    # The command ends when the test says so (a file appears), not after some seconds.
    command = f"echo begin; while [ ! -e {work}/go ]; do sleep 0.05; done; echo end"
    started = api.ok("/shell/exec", id=shell_id, command=command, wait_seconds=0.5)
    assert started["status"] == "running"
    assert started["returncode"] is None
    assert started["output"] in ("begin\n", "")  # a busy sandbox may not have run the echo yet

    short = api.ok("/shell/wait", id=shell_id, seconds=0)
    assert short["status"] == "running"

    api.sh(f"touch {work}/go")
    # Asked to wait up to an hour, far past the client's own 120 s read timeout: only a wait that
    # returns when the command ends gets here at all.
    done = api.ok("/shell/wait", id=shell_id, seconds=3600)
    assert done["status"] == "completed"
    assert done["returncode"] == 0
    assert done["output"] == "begin\nend\n"


def test_exec_while_a_command_runs_is_409_and_does_not_run(api: Api, shell_id: str, work: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="sleep 30", wait_seconds=0)

    response = api.post("/shell/exec", id=shell_id, command=f"touch {work}/ran")

    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error": f"shell {shell_id!r} is still running 'sleep 30'; use /shell/wait, /shell/write or /shell/kill first",
    }
    assert api.sh(f"ls -A {work}") == ""


def test_ctrl_c_interrupts_the_foreground_command_and_the_shell_lives_on(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="export KEEP=kept")
    running = api.ok("/shell/exec", id=shell_id, command="sleep 100", wait_seconds=0.3)
    assert running["status"] == "running"

    interrupted = api.ok("/shell/write", id=shell_id, key="ctrl_c", wait_seconds=15)

    assert interrupted["status"] == "completed"
    assert interrupted["returncode"] == 130
    after = api.ok("/shell/exec", id=shell_id, command='echo "$KEEP"')
    assert (after["status"], after["returncode"], after["output"]) == ("completed", 0, "kept\n")


def test_ctrl_c_also_stops_a_loop_of_builtins(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="while :; do :; done", wait_seconds=0.3)

    interrupted = api.ok("/shell/write", id=shell_id, key="ctrl_c", wait_seconds=15)

    assert (interrupted["status"], interrupted["returncode"]) == ("completed", 130)
    assert api.ok("/shell/exec", id=shell_id, command="echo ok")["output"] == "ok\n"


def test_write_sends_input_to_the_running_program(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command='read -r line; echo "got:$line"', wait_seconds=0.3)

    data = api.ok("/shell/write", id=shell_id, input="hello world", press_enter=True, wait_seconds=15)

    assert (data["status"], data["returncode"], data["output"]) == ("completed", 0, "got:hello world\n")


def test_ctrl_d_ends_input(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="wc -l", wait_seconds=0.3)
    api.ok("/shell/write", id=shell_id, input="a\nb", press_enter=True, wait_seconds=0)

    data = api.ok("/shell/write", id=shell_id, key="ctrl_d", wait_seconds=15)

    assert (data["status"], data["returncode"], data["output"].strip()) == ("completed", 0, "2")


def test_write_with_nothing_running_is_409(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="true")
    response = api.post("/shell/write", id=shell_id, input="ls", press_enter=True)
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error": f"no command is running in shell {shell_id!r}; use /shell/exec to run one",
    }


def test_kill_ends_the_whole_process_tree_and_the_id_can_be_reused(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="export GONE=yes; sleep 1234.5 &")
    running = api.ok("/shell/exec", id=shell_id, command="echo $$; sleep 1234.6", wait_seconds=0.5)
    bash_pid = int(running["output"].split()[0])

    killed = api.ok("/shell/kill", id=shell_id)

    assert killed["id"] == shell_id
    assert bash_pid in killed["killed_pids"]
    assert len(killed["killed_pids"]) == 3  # bash, the background sleep, the foreground sleep
    assert wait_until(lambda: api.sh("pgrep -f 'sleep 1234' || true") == "")
    assert api.sh(f"kill -0 {bash_pid} 2>/dev/null && echo alive || echo gone") == "gone\n"
    assert api.post("/shell/view", id=shell_id).status_code == 404
    fresh = api.ok("/shell/exec", id=shell_id, command='echo "[$GONE]"')
    assert (fresh["output"], [r["command"] for r in fresh["console"]]) == ("[]\n", ['echo "[$GONE]"'])


def test_kill_of_an_unknown_shell_is_404(api: Api) -> None:
    response = api.post("/shell/kill", id="never-started")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "no shell named 'never-started'"}


def test_a_command_past_its_timeout_is_killed_and_the_shell_survives(api: Api, shell_id: str) -> None:
    data = api.ok("/shell/exec", id=shell_id, command="sleep 60", timeout_seconds=1, wait_seconds=30)

    assert data["status"] == "completed"
    assert data["returncode"] == 137
    assert data["output"].endswith("\n[command killed: timeout of 1 s reached]")
    assert api.ok("/shell/exec", id=shell_id, command="echo alive")["output"] == "alive\n"


def test_interrupt_stops_a_printing_loop_with_sigint_and_the_shell_survives(api: Api, shell_id: str) -> None:
    command = "for i in $(seq 1 600); do echo tick $i; sleep 1; done"
    running = api.ok("/shell/exec", id=shell_id, command=command, wait_seconds=1.5)
    assert running["status"] == "running"

    data = api.ok("/shell/interrupt", id=shell_id, grace_seconds=3)

    [result] = data["interrupted"]
    assert (result["id"], result["status"]) == (shell_id, "completed")
    assert result["output"].startswith("tick 1\n")
    assert result["output"].endswith("\n[interrupted: the task was stopped]")
    printed = api.post("/shell/view", id=shell_id).json()["data"]["output"]
    time.sleep(1.5)
    assert api.post("/shell/view", id=shell_id).json()["data"]["output"] == printed  # no more ticks
    assert api.ok("/shell/exec", id=shell_id, command="echo alive")["output"] == "alive\n"


def test_interrupt_kills_a_command_that_ignores_sigint_after_the_grace(api: Api, shell_id: str) -> None:
    command = "python3 -c 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)'"
    api.ok("/shell/exec", id=shell_id, command=command, wait_seconds=1)

    data = api.ok("/shell/interrupt", grace_seconds=0.5)

    [result] = data["interrupted"]
    assert (result["status"], result["returncode"]) == ("completed", 137)
    assert api.sh("pgrep -f 'time.sleep(600)' || true") == ""
    assert api.ok("/shell/exec", id=shell_id, command="echo alive")["output"] == "alive\n"


def test_interrupt_with_nothing_running_interrupts_nothing(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="echo idle")

    assert api.ok("/shell/interrupt", id=shell_id) == {"interrupted": []}
    assert api.post("/shell/interrupt", id="never-started").status_code == 404


def test_exit_ends_the_shell_and_the_next_exec_starts_a_fresh_one(api: Api, shell_id: str) -> None:
    api.ok("/shell/exec", id=shell_id, command="export OLD=1")
    data = api.ok("/shell/exec", id=shell_id, command="exit 5", wait_seconds=15)
    assert (data["status"], data["returncode"], data["output"]) == ("completed", 5, "\n[shell exited]")

    fresh = api.ok("/shell/exec", id=shell_id, command='echo "[$OLD]"')

    assert fresh["output"] == "[]\n"
    assert [r["command"] for r in fresh["console"]] == ["export OLD=1", "exit 5", 'echo "[$OLD]"']


def test_output_over_the_cap_keeps_the_tail_with_a_truncation_note(api: Api, target: Target, shell_id: str) -> None:
    data = api.ok("/shell/exec", id=shell_id, command="seq 1 100000", wait_seconds=60)

    # The terminal turns every \n into \r\n; the cap counts those raw bytes.
    raw = "".join(f"{i}\r\n" for i in range(1, 100001)).encode()
    cap = target.max_output_bytes
    kept = raw[-cap:].decode().replace("\r\n", "\n")
    assert data["returncode"] == 0
    assert data["output"] == f"[... {len(raw) - cap} bytes truncated ...]\n" + kept
    assert data["output"].endswith("99999\n100000\n")


def test_ansi_escapes_are_stripped_and_carriage_returns_applied(api: Api, shell_id: str) -> None:
    data = api.ok(
        "/shell/exec",
        id=shell_id,
        command=r"printf '\033[1;31mred\033[0m plain\n'; printf 'step 10%%\rstep 99%%\n'; printf '\033]0;title\007x\n'",
    )
    assert data["output"] == "red plain\nstep 99%\nx\n"


def test_commands_longer_than_a_terminal_line_and_unicode_work(api: Api, shell_id: str) -> None:
    long_word = "ab" * 5000
    data = api.ok("/shell/exec", id=shell_id, command=f"echo '{long_word}' | wc -c; echo 'héllo ✓ 世界'")
    assert data["output"] == f"{len(long_word) + 1}\nhéllo ✓ 世界\n"


def test_exec_dir_runs_the_command_there(api: Api, shell_id: str, work: str) -> None:
    api.sh(f"mkdir -p {work}/sub")
    data = api.ok("/shell/exec", id=shell_id, exec_dir=f"{work}/sub", command="pwd")
    assert data["output"] == f"{work}/sub\n"


def test_exec_dir_that_is_missing_is_400(api: Api, shell_id: str, work: str) -> None:
    response = api.post("/shell/exec", id=shell_id, exec_dir=f"{work}/nope", command="pwd")
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": f"exec_dir {work}/nope is not a directory"}
