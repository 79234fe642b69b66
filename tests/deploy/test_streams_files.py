"""deploy/'s stream server: its unit runs `helpline streams` on the port the nginx site sends
the counselors' streams to, with a web process as the backup while it is down."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from dashboard import streams
from tests.deploy.render import DEPLOY, SITE, Paths, read_service, render_env_file

STREAMS_UNIT = DEPLOY / "systemd" / "helpline-streams.service"


def test_the_unit_and_the_site_agree_on_the_stream_server(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    render_env_file(paths, {})
    service = read_service(STREAMS_UNIT, paths)
    assert service.argv[1:3] == ["streams", "--host"]
    port = service.argv[service.argv.index("--port") + 1]

    site = SITE.read_text(encoding="utf-8")
    upstream = re.search(r"^upstream helpline_streams \{(.*?)^\}", site, re.MULTILINE | re.DOTALL)
    assert upstream, "the site has no helpline_streams upstream"
    servers = re.findall(r"^\s*server\s+(\S+)([^;]*);", upstream.group(1), re.MULTILINE)
    assert servers[0][0] == f"127.0.0.1:{port}"
    web = re.search(r"^upstream helpline_web \{\s*(?:#[^\n]*\n\s*)*server\s+(\S+)", site,
                    re.MULTILINE)
    assert web and ("".join(servers[1]).split() == [web.group(1), "backup"])

    routed = re.search(r"location ~ \^/\(([^)]*)\)/events\$ \{[^}]*proxy_pass "
                       r"http://helpline_streams;", site)
    assert routed, "no location sends the streams to helpline_streams"
    paths_sent = {f"/{name}/events" for name in routed.group(1).split("|")}
    assert paths_sent == set(streams.SIGN_IN)


def test_the_command_is_plugged_in() -> None:
    from helpline.app.cli import cli

    result = CliRunner().invoke(cli, ["streams", "--help"])
    assert result.exit_code == 0 and "--port" in result.output
