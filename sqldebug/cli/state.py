"""``sqldebug state``: the local episode so far, step by step, with the return."""

from __future__ import annotations

from sqldebug.cli.options import Json, Server, Session
from sqldebug.cli.output import emit_json, guarded, out


@guarded
def state(session: Session = "default", server: Server = None, json: Json = False) -> None:
    """Show the history of the episode: each action, its reward, and the return."""
    if server is not None:
        from sqldebug.client import RemoteEpisodes

        st = RemoteEpisodes(server).state(session)
    else:
        from sqldebug.episodes import EpisodeStore

        st = EpisodeStore().open(session).state()
    if json:
        emit_json({"session": session, **st.model_dump(mode="json")})
        return
    from sqldebug.cli import render

    out.print(render.state(st, session))
