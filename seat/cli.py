"""`seat` command: prepare the database, train when needed, run the services."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from callbacks.cli import add_arguments as add_callbacks_arguments
from callbacks.cli import run as run_callbacks
from ground.db import create_engine
from ground.rasa_models import ensure_model, model_to_serve
from ground.settings import REPO_ROOT, Settings, current
from ground.store import TicketStore, TicketStoreError, current_revision, head_revision, migrate, users
from ground.store import knowledge as repository
from ground.store.kb_rates import one_time_resolution
from ground.store.knowledge import load_kb
from ground.store.privacy import PrivacyError, erase_phone, purge
from ground.store.units import load_units
from nlu.kb_index import KbIndex
from seat import services, status
from seat.launcher import Launcher
from seat.services import all_services


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def cmd_prepare(settings: Settings, _: argparse.Namespace) -> int:
    """Create or migrate the database and load the units."""
    print(f"seat | database: {_safe_url(settings.db.url)}", flush=True)
    migrate(settings.db.url)
    print("seat | database schema is up to date", flush=True)
    engine = create_engine(settings.db.url)
    try:
        count = load_units(engine)
        added, updated = load_kb(engine)
    finally:
        engine.dispose()
    print(f"seat | units loaded: {count}", flush=True)
    print(f"seat | knowledge base: {added} new entries from ground/data/kb (existing entries are kept; "
          "`seat kb load --update` overwrites them from the files)", flush=True)
    return 0


def cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    """Knowledge base: load the repo's entries, ask a question, or print the one-time resolution rate."""
    engine = create_engine(settings.db.url)
    try:
        if args.kb_command == "load":
            added, updated = repository.load_kb(engine, update_existing=args.update)
            print(f"knowledge base: {added} added, {updated} updated")
        elif args.kb_command == "ask":
            index = KbIndex(repository.fetch_entries(engine))
            decision = index.decide(" ".join(args.question))
            for hit in index.search(" ".join(args.question)):
                print(f"{hit.score:.3f}  {hit.entry.key}  {hit.entry.question}")
            print(f"decision: {decision.action}")
            if decision.action == "answer":
                print(decision.hit.entry.answer)
        else:
            print(f"{'period':<12}{'solved by KB':>14}{'consultations':>15}{'rate':>8}")
            for r in one_time_resolution(engine, by=args.by):
                print(f"{r.period:<12}{r.resolved_by_kb:>14}{r.consultations:>15}{r.rate:>8.1%}")
    finally:
        engine.dispose()
    return 0


def cmd_train(_: Settings, args: argparse.Namespace) -> int:
    """Train the Rasa model if the training data changed."""
    ensure_model(force=args.force)
    return 0


def _launch(services) -> int:
    return asyncio.run(Launcher(services, state_path=status.STATE_FILE).run())  # `seat status` reads the state


def _schema_behind(settings: Settings) -> str | None:
    """Why the database cannot serve this code (not migrated, or at an older revision), else None."""
    current, head = current_revision(settings.db.url), head_revision()
    if current == head:
        return None
    at = f"at revision {current}" if current else "not migrated"
    return f"the database {_safe_url(settings.db.url)} is {at}; this code needs revision {head}"


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Start every service of the seat in the foreground (preparing the database first when needed)."""
    os.chdir(REPO_ROOT)
    behind = _schema_behind(settings)
    if behind:
        print(f"seat | {behind}: preparing it first (seat prepare)", flush=True)
        cmd_prepare(settings, args)
    model = model_to_serve(settings.rasa.models_dir)  # the model published from the admin console, else the repo's data
    return _launch(all_services(settings, model))


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Start one service on its own (for replicas behind a balancer)."""
    os.chdir(REPO_ROOT)
    behind = _schema_behind(settings) if args.service != "rasa" else None  # Rasa keeps its own tables
    if behind:
        print(f"seat | {behind}. Run `seat prepare` (or `make db`) once, then start the service again.",
              file=sys.stderr, flush=True)
        return 2
    if args.service == "actions":
        svc = services.action_server(settings)
    elif args.service == "voice":
        svc = services.voice_gateway(settings)
    elif args.service == "web":
        svc = services.web_server(settings)
    elif args.service == "admin":
        svc = services.admin_server(settings)
    elif args.service == "callbacks":
        svc = services.callback_worker(settings)
    else:
        svc = services.rasa_server(settings, model_to_serve(settings.rasa.models_dir))
    os.execve(svc.argv[0], list(svc.argv), {**os.environ, **svc.env})  # the service's process, its environment
    return 0  # not reached


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Admin console accounts: create a user (password prompted, or one line on stdin)."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("passwords differ", file=sys.stderr)
            return 1
    engine = create_engine(settings.db.url)
    try:
        if args.admin_command == "create-user":
            user = users.create_user(engine, args.name, password, args.role)
            print(f"admin console user {user.username} ({user.role}) created")
        else:
            users.set_password(engine, args.name, password)
            print(f"password of {args.name} changed")
    except users.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def cmd_tickets(settings: Settings, args: argparse.Namespace) -> int:
    """Tickets: close one (the satisfaction callback follows)."""
    engine = create_engine(settings.db.url)
    try:
        ticket = TicketStore(engine).change_status(args.ticket_no, "closed", actor=args.actor, note=args.note)
    except TicketStoreError as exc:
        print(f"error: {exc}")
        return 2
    finally:
        engine.dispose()
    print(f"ticket {ticket.ticket_no} closed at {ticket.closed_at.isoformat()}")
    return 0


def cmd_privacy(settings: Settings, args: argparse.Namespace) -> int:
    """Privacy (PIPL): erase one citizen's personal data, or purge what is older than RETENTION_DAYS."""
    engine = create_engine(settings.db.url)
    try:
        if args.privacy_command == "erase":
            report = erase_phone(engine, args.phone, actor=args.actor)
            print(f"erased: {report.tickets} tickets, {report.conversations} conversations "
                  f"({report.tracker_events} tracker events, {report.handoffs} handoffs, "
                  f"{report.kb_questions} knowledge-base questions), {report.surveys} survey comments")
        else:
            days = args.days or settings.privacy.retention_days
            report = purge(engine, days, actor=args.actor)
            print(f"purged (older than {days} days): {report.tickets} closed tickets, {report.conversations} "
                  f"conversations ({report.tracker_events} tracker events), {report.handoffs} handoffs, "
                  f"{report.kb_questions} knowledge-base questions")
    except PrivacyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """Every service's port, health (up / degraded / down), pid and restarts; exit 0 only when all are up."""
    return status.status(settings, args.state)


def cmd_callbacks(settings: Settings, args: argparse.Namespace) -> int:
    """Satisfaction callbacks: monthly rates report, a scheduling pass, the workers."""
    return run_callbacks(settings, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help=cmd_prepare.__doc__).set_defaults(func=cmd_prepare)
    train = sub.add_parser("train", help=cmd_train.__doc__)
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.set_defaults(func=cmd_train)
    sub.add_parser("run", help=cmd_run.__doc__).set_defaults(func=cmd_run)
    kb = sub.add_parser("kb", help=cmd_kb.__doc__)
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    load = kb_sub.add_parser("load", help="load ground/data/kb/*.yml into the database (idempotent)")
    load.add_argument("--update", action="store_true", help="also overwrite existing entries from the files")
    ask = kb_sub.add_parser("ask", help="show what the knowledge base would answer")
    ask.add_argument("question", nargs="+")
    rates = kb_sub.add_parser("rates", help="one-time resolution rate per day or month")
    rates.add_argument("--by", choices=["day", "month"], default="day")
    kb.set_defaults(func=cmd_kb)
    serve = sub.add_parser("serve", help=cmd_serve.__doc__)
    serve.add_argument("service", choices=["rasa", "actions", "voice", "web", "callbacks", "admin"])
    serve.set_defaults(func=cmd_serve)
    admin = sub.add_parser("admin", help=cmd_admin.__doc__)
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    for name, helptext in (("create-user", "create an admin console user"), ("set-password", "change a password")):
        cmd = admin_sub.add_parser(name, help=helptext)
        cmd.add_argument("name")
        if name == "create-user":
            cmd.add_argument("--role", choices=["admin", "editor", "operator", "viewer"], default="viewer")
        cmd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    admin.set_defaults(func=cmd_admin)
    tickets = sub.add_parser("tickets", help=cmd_tickets.__doc__)
    tickets_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    close = tickets_sub.add_parser("close", help="close a ticket")
    close.add_argument("ticket_no")
    close.add_argument("--actor", default="seat-cli")
    close.add_argument("--note", default=None)
    tickets.set_defaults(func=cmd_tickets)
    privacy = sub.add_parser("privacy", help=cmd_privacy.__doc__)
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    erase = privacy_sub.add_parser("erase", help="remove one citizen's personal data everywhere (audited)")
    erase.add_argument("--phone", required=True, help="the citizen's phone number, any form")
    erase.add_argument("--actor", default="seat-cli")
    purge_cmd = privacy_sub.add_parser("purge", help="remove personal data older than RETENTION_DAYS now")
    purge_cmd.add_argument("--days", type=int, default=None, help="instead of RETENTION_DAYS")
    purge_cmd.add_argument("--actor", default="seat-cli")
    privacy.set_defaults(func=cmd_privacy)
    status_cmd = sub.add_parser("status", help=cmd_status.__doc__)
    status_cmd.add_argument("--state", type=Path, default=status.STATE_FILE,
                            help="the launcher's state file (default .run/launcher.json)")
    status_cmd.set_defaults(func=cmd_status)
    callbacks = sub.add_parser("callbacks", help=cmd_callbacks.__doc__)
    add_callbacks_arguments(callbacks)
    callbacks.set_defaults(func=cmd_callbacks)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = current()  # the settings tree of this process, built once and passed down
    except ValueError as exc:  # a bad number in the environment: say which, no traceback
        print(f"seat | bad setting: {exc}", file=sys.stderr)
        return 2
    return args.func(settings, args)


if __name__ == "__main__":
    sys.exit(main())
