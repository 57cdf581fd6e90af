from __future__ import annotations

import functools
import gc
import inspect
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Generic,
    NewType,
    Optional,
    TypeVar,
    Union,
)

import pytest
from django.apps import apps
from django.core.checks import ERROR, WARNING, CheckMessage, Error, run_checks
from django.core.checks import Warning as CheckWarning
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.core.signals import request_finished
from django.dispatch import Signal as DjangoSignal
from django.dispatch import receiver as django_receiver
from django.test import override_settings
from django.utils.functional import SimpleLazyObject

from django_typed_signals import SignalGroup, TypedSignal, _groups, checks
from django_typed_signals._groups import note_group_references
from django_typed_signals._receivers import describe_callable

if TYPE_CHECKING:
    from decimal import Decimal as NotImportedAtRuntime

REPO = Path(__file__).resolve().parent.parent

T = TypeVar("T")


@dataclass(frozen=True)
class Payment:
    amount: int


@dataclass(frozen=True)
class CardPayment(Payment):
    card: str


@dataclass(frozen=True)
class Envelope(Generic[T]):
    content: T


@dataclass(frozen=True)
class Box(Generic[T]):
    content: T


BoundToPayment = TypeVar("BoundToPayment", bound=Payment)
BoundToInt = TypeVar("BoundToInt", bound=int)
IntOrPayment = TypeVar("IntOrPayment", int, Payment)
IntOrStr = TypeVar("IntOrStr", int, str)
VerifiedPayment = NewType("VerifiedPayment", Payment)
Cents = NewType("Cents", int)

# A plain Django signal at module level, where signal discovery finds it.
plain_signal = DjangoSignal()


class Connections:
    """Connects the way Django's ``@receiver`` does; disconnects afterwards."""

    def __init__(self) -> None:
        self._made: list[tuple[DjangoSignal, Callable[..., Any], str | None]] = []

    def __call__(
        self,
        signal: DjangoSignal,
        receiver: Callable[..., Any],
        dispatch_uid: str | None = None,
    ) -> None:
        django_receiver(signal, weak=False, dispatch_uid=dispatch_uid)(receiver)
        self._made.append((signal, receiver, dispatch_uid))

    def disconnect_all(self) -> None:
        for signal, receiver, dispatch_uid in self._made:
            signal.disconnect(receiver, dispatch_uid=dispatch_uid)


@pytest.fixture
def connect() -> Iterator[Connections]:
    connections = Connections()
    yield connections
    connections.disconnect_all()


@pytest.fixture
def group_references(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notes taken by a test stay in that test."""
    monkeypatch.setattr(_groups, "_references", [])


def receiver_annotated(annotation: object) -> Callable[..., None]:
    def on_payment(sender: object, *, payload: object, **kwargs: object) -> None: ...

    on_payment.__annotations__["payload"] = annotation
    return on_payment


def about(receiver: object, messages: list[CheckMessage]) -> list[CheckMessage]:
    """The messages whose ``obj`` is ``receiver``'s dotted path."""
    path = describe_callable(receiver)[0]
    return [m for m in messages if m.obj == path]


def location(func: Callable[..., Any]) -> str:
    return f"{__file__}:{inspect.getsourcelines(func)[1]}"


# -- E001 / W001 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload_type", "annotation"),
    [
        (CardPayment, CardPayment),
        (CardPayment, "CardPayment"),
        (CardPayment, Payment),
        (CardPayment, object),
        (CardPayment, Any),
        (CardPayment, "Any"),
        (CardPayment, Optional[CardPayment]),  # noqa: UP045
        (CardPayment, Union[int, Payment]),  # noqa: UP007
        (CardPayment, "int | Payment | None"),
        (CardPayment, Annotated[Payment, "meta"]),
        (CardPayment, BoundToPayment),
        (CardPayment, IntOrPayment),
        (CardPayment, T),
        (CardPayment, VerifiedPayment),
        (Envelope, Envelope),
        (Envelope, Envelope[int]),
        (Envelope, "Envelope[int]"),
        # Names inside brackets need not exist at runtime: the class decides.
        (Envelope, "Envelope[NotImportedAtRuntime]"),
        (Envelope, "Optional[Envelope[NotImportedAtRuntime]]"),
        (Envelope, "Envelope[NotImportedAtRuntime] | None"),
    ],
)
def test_payload_annotations_that_take_the_payload_pass(
    connect: Connections, payload_type: type, annotation: object
) -> None:
    signal: TypedSignal[object] = TypedSignal(payload_type)
    on_payment = receiver_annotated(annotation)
    connect(signal, on_payment)
    assert about(on_payment, checks.check_payload_annotations()) == []


@pytest.mark.parametrize(
    ("payload_type", "annotation", "shown"),
    [
        (Payment, CardPayment, "tests.test_checks.CardPayment"),
        (Payment, "CardPayment", "CardPayment"),
        (Payment, int, "int"),
        (Payment, None, "None"),
        (Payment, BoundToInt, "~BoundToInt"),
        (Payment, IntOrStr, "~IntOrStr"),
        (Payment, Cents, "tests.test_checks.Cents"),
        (Payment, Optional[int], "typing.Optional[int]"),  # noqa: UP045
        (Payment, "int | None", "int | None"),
        (Payment, type[Payment], "type[tests.test_checks.Payment]"),
        (Payment, Annotated[int, "meta"], "typing.Annotated[int, 'meta']"),
        (Envelope, Box[int], "tests.test_checks.Box[int]"),
        (Envelope, "Box[NotImportedAtRuntime]", "Box[NotImportedAtRuntime]"),
        (Envelope, "Optional[Box[NotImportedAtRuntime]]", None),
    ],
)
def test_payload_annotations_that_refuse_the_payload_are_e001(
    connect: Connections, payload_type: type, annotation: object, shown: str | None
) -> None:
    signal: TypedSignal[object] = TypedSignal(payload_type, name="checks.refused")
    on_payment = receiver_annotated(annotation)
    connect(signal, on_payment)
    [message] = about(on_payment, checks.check_payload_annotations())
    assert message.id == "typed_signals.E001"
    assert message.level == ERROR
    assert f"annotates payload as {shown or annotation}," in message.msg


def test_e001_names_signal_receiver_location_and_both_types(
    connect: Connections,
) -> None:
    signal = TypedSignal(Payment, name="checks.paid")

    def on_paid(sender: object, *, payload: Box[int], **kwargs: object) -> None: ...

    connect(signal, on_paid)
    path = describe_callable(on_paid)[0]
    assert path.endswith(
        "test_e001_names_signal_receiver_location_and_both_types.<locals>.on_paid"
    )
    assert about(on_paid, checks.check_payload_annotations()) == [
        Error(
            f"Receiver {path} ({location(on_paid)}) of signal checks.paid annotates "
            "payload as Box[int], but the signal sends tests.test_checks.Payment.",
            hint=(
                "Annotate the parameter as 'payload: Payment' (or a base class of "
                "it), or connect the receiver to a signal that sends Box[int]."
            ),
            obj=path,
            id="typed_signals.E001",
        )
    ]


class Audit:
    def on_payment(self, sender: object, *, payload: int, **kwargs: object) -> None:
        """A method: checked without ``self``."""

    def __call__(self, sender: object, *, payload: int, **kwargs: object) -> None:
        """A callable instance: its ``__call__`` is checked."""


def on_payment_with_extra(
    sender: object, extra: str, *, payload: int, **kwargs: object
) -> None: ...


@pytest.mark.parametrize(
    "make",
    [
        lambda: Audit().on_payment,
        Audit,
        lambda: functools.partial(on_payment_with_extra, extra="x"),
    ],
    ids=["bound method", "callable instance", "partial"],
)
def test_methods_callable_instances_and_partials_are_checked(
    connect: Connections, make: Callable[[], Callable[..., None]]
) -> None:
    signal = TypedSignal(Payment)
    on_payment = make()
    connect(signal, on_payment)
    [message] = about(on_payment, checks.check_payload_annotations())
    assert message.id == "typed_signals.E001"
    assert "annotates payload as int," in message.msg


def test_receivers_without_payload_annotation_pass(connect: Connections) -> None:
    signal = TypedSignal(Payment)

    def unannotated(sender, *, payload, **kwargs):  # type: ignore[no-untyped-def]
        ...

    def payload_in_kwargs(sender: object, **kwargs: object) -> None: ...

    connect(signal, unannotated)
    connect(signal, payload_in_kwargs)
    messages = checks.check_payload_annotations()
    assert about(unannotated, messages) == []
    assert about(payload_in_kwargs, messages) == []


@pytest.mark.parametrize(
    "annotation", ["NotImportedAtRuntime", "NotImportedAtRuntime | None", "Box["]
)
def test_unresolvable_payload_annotation_is_w001(
    connect: Connections, annotation: str
) -> None:
    signal = TypedSignal(Payment, name="checks.unresolved")
    on_payment = receiver_annotated(annotation)
    connect(signal, on_payment)
    [message] = about(on_payment, checks.check_payload_annotations())
    assert message.id == "typed_signals.W001"
    assert message.level == WARNING
    assert message.msg.startswith(f"Receiver {describe_callable(on_payment)[0]} (")
    assert (
        f"of signal checks.unresolved: its payload annotation {annotation!r} "
        "cannot be resolved (" in message.msg
    )
    assert message.hint is not None
    assert "TYPE_CHECKING" in message.hint


def record_refund(
    sender: object, *, payload: NotImportedAtRuntime, **kwargs: object
) -> None: ...


def test_payload_type_imported_only_for_type_checkers_is_w001(
    connect: Connections,
) -> None:
    signal = TypedSignal(Payment, name="checks.refund")
    connect(signal, record_refund)
    assert about(record_refund, checks.check_payload_annotations()) == [
        CheckWarning(
            "Receiver tests.test_checks.record_refund "
            f"({location(record_refund)}) of signal checks.refund: its payload "
            "annotation 'NotImportedAtRuntime' cannot be resolved (NameError: "
            "name 'NotImportedAtRuntime' is not defined), so it is not checked "
            "against the signal's payload type.",
            hint=(
                "Import the names the annotation uses at runtime in the "
                "receiver's module (not only under TYPE_CHECKING), or silence "
                "typed_signals.W001."
            ),
            obj="tests.test_checks.record_refund",
            id="typed_signals.W001",
        )
    ]


def test_plain_signals_have_no_payload_to_check(connect: Connections) -> None:
    on_payment = receiver_annotated(int)
    connect(plain_signal, on_payment)
    assert about(on_payment, checks.check_payload_annotations()) == []


# -- E002 -------------------------------------------------------------------


def test_receiver_without_kwargs_on_a_django_signal_is_e002(
    connect: Connections,
) -> None:
    def on_finished(sender: object, signal: object) -> None: ...

    def on_finished_too(sender: object, **kwargs: object) -> None: ...

    connect(request_finished, on_finished)  # Django checks this only in DEBUG
    connect(request_finished, on_finished_too)
    messages = checks.check_receivers_take_kwargs()
    path = describe_callable(on_finished)[0]
    assert about(on_finished, messages) == [
        Error(
            f"Receiver {path} ({location(on_finished)}) of signal "
            "django.core.signals.request_finished does not accept **kwargs.",
            hint=(
                "Add **kwargs to its parameters: signals call receivers with "
                "keyword arguments ('signal', 'sender' and their own), and may "
                "add more."
            ),
            obj=path,
            id="typed_signals.E002",
        )
    ]
    assert about(on_finished_too, messages) == []


def test_receivers_without_a_signature_are_not_guessed_at(
    connect: Connections,
) -> None:
    connect(plain_signal, dict)  # dict(signal=..., sender=...) works; no signature
    assert about(dict, checks.check_receivers_take_kwargs()) == []


def test_receivers_that_died_are_not_reported() -> None:
    def on_it(sender: object) -> None: ...

    plain_signal.connect(on_it)  # weakly, as by default
    assert len(about(on_it, checks.check_receivers_take_kwargs())) == 1
    path = describe_callable(on_it)[0]
    del on_it
    gc.collect()
    messages = checks.check_receivers_take_kwargs()
    assert [m for m in messages if m.obj == path] == []


# -- E003 -------------------------------------------------------------------


@pytest.mark.usefixtures("group_references")
def test_unknown_group_reference_is_e003_listing_known_groups() -> None:
    SignalGroup("checks-billing")
    note_group_references(
        ["checks-billing", "checks-biling"], where="shop.tests.CheckoutTests"
    )
    [message] = checks.check_group_references()
    assert message.id == "typed_signals.E003"
    assert message.msg == (
        "Signal group 'checks-biling' used by shop.tests.CheckoutTests is not declared."
    )
    assert message.obj == "shop.tests.CheckoutTests"
    assert message.hint is not None
    assert message.hint.startswith("Known groups: ")
    assert "'checks-billing'" in message.hint
    assert "'testapp'" in message.hint  # declared by tests.testapp.signals
    assert "SignalGroup('checks-biling')" in message.hint


@pytest.mark.usefixtures("group_references")
def test_group_reference_is_fine_once_the_group_is_declared() -> None:
    note_group_references(["checks-late"], where="shop.tests.LateTests")
    assert len(checks.check_group_references()) == 1
    SignalGroup("checks-late")
    assert checks.check_group_references() == []


@pytest.mark.usefixtures("group_references")
def test_repeated_references_are_reported_once() -> None:
    for _ in range(2):
        note_group_references(["checks-missing"], where="shop.tests.Twice")
    assert len(checks.check_group_references()) == 1


# -- E004 -------------------------------------------------------------------


def record_payment(sender: object, *, payload: Payment, **kwargs: object) -> None: ...


def record_payment_again(
    sender: object, *, payload: Payment, **kwargs: object
) -> None: ...


def test_taken_dispatch_uid_is_e004(connect: Connections) -> None:
    signal = TypedSignal(Payment, name="checks.uid")
    connect(signal, record_payment, dispatch_uid="record")
    connect(signal, record_payment_again, dispatch_uid="record")
    assert about(record_payment_again, checks.check_dispatch_uids()) == [
        Error(
            "Receiver tests.test_checks.record_payment_again "
            f"({location(record_payment_again)}) was not connected to signal "
            "checks.uid: dispatch_uid 'record' is already used by "
            f"tests.test_checks.record_payment ({location(record_payment)}) "
            "for any sender.",
            hint=(
                "Django keeps the first receiver connected with a dispatch_uid "
                "and ignores later ones; give each receiver its own dispatch_uid."
            ),
            obj="tests.test_checks.record_payment_again",
            id="typed_signals.E004",
        )
    ]


def test_dispatch_uid_collision_names_the_sender() -> None:
    signal = TypedSignal(Payment, name="checks.uid_sender")

    def first(sender: object, **kwargs: object) -> None: ...

    def second(sender: object, **kwargs: object) -> None: ...

    signal.connect(first, sender=Payment, dispatch_uid="uid", weak=False)
    signal.connect(second, sender=Payment, dispatch_uid="uid", weak=False)
    [message] = about(second, checks.check_dispatch_uids())
    assert message.msg.endswith(" for sender tests.test_checks.Payment.")


def test_reconnecting_the_same_receiver_is_not_a_collision(
    connect: Connections,
) -> None:
    signal = TypedSignal(Payment, name="checks.same")
    connect(signal, record_payment, dispatch_uid="record")
    connect(signal, record_payment, dispatch_uid="record")  # a module imported twice
    assert signal.rejected_connections() == []
    messages = checks.check_dispatch_uids()
    assert [m for m in messages if "checks.same" in m.msg] == []


# -- all checks -------------------------------------------------------------


def test_checks_for_some_apps_leave_out_receivers_of_other_apps(
    connect: Connections,
) -> None:
    signal = TypedSignal(Payment)
    on_payment = receiver_annotated(int)
    connect(signal, on_payment)
    testapp = [apps.get_app_config("testapp")]
    assert about(on_payment, checks.check_payload_annotations(testapp)) == []
    assert len(about(on_payment, checks.check_payload_annotations())) == 1


def test_checks_are_registered_under_the_typed_signals_tag() -> None:
    tagged = {c for c in registry.get_checks() if checks.TAG in c.tags}
    assert tagged >= {
        checks.check_payload_annotations,
        checks.check_receivers_take_kwargs,
        checks.check_group_references,
        checks.check_dispatch_uids,
    }


def test_manage_py_check_reports_errors_by_id(connect: Connections) -> None:
    signal = TypedSignal(Payment)
    on_payment = receiver_annotated(int)

    def no_kwargs(sender: object) -> None: ...

    connect(signal, on_payment)
    connect(plain_signal, no_kwargs)
    messages = run_checks(tags=[checks.TAG])
    assert [m.id for m in about(on_payment, messages)] == ["typed_signals.E001"]
    assert [m.id for m in about(no_kwargs, messages)] == ["typed_signals.E002"]
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", tags=[checks.TAG])
    path = describe_callable(on_payment)[0]
    assert f"{path}: (typed_signals.E001) Receiver {path} (" in str(raised.value)


def test_silenced_ids_are_left_out_by_manage_py_check(connect: Connections) -> None:
    signal = TypedSignal(Payment)
    on_payment = receiver_annotated(int)
    connect(signal, on_payment)
    [message] = about(on_payment, run_checks(tags=[checks.TAG]))
    assert not message.is_silenced()
    with override_settings(SILENCED_SYSTEM_CHECKS=["typed_signals.E001"]):
        assert message.is_silenced()


def test_checks_leave_lazy_objects_of_modules_unevaluated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def evaluate() -> object:
        raise AssertionError("a check set up a lazy object")

    module = types.ModuleType("tests.lazy_module")
    module.lazy = SimpleLazyObject(evaluate)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for check in registry.get_checks():
        if checks.TAG in check.tags:
            check(app_configs=None, databases=None)


# A fresh process: only what the project itself imports and connects.
CHECK_PROJECT = """
import json, django
django.setup()
import django_typed_signals.checks
from django.core.checks import run_checks
print(json.dumps([[m.id, m.level, str(m)] for m in run_checks()]))
"""


@pytest.mark.parametrize(
    ("settings", "cwd"),
    [("tests.settings", REPO), ("example_project.settings", REPO / "example_project")],
)
def test_projects_pass_the_typed_signals_checks(settings: str, cwd: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK_PROJECT],
        cwd=cwd,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    messages: list[tuple[str | None, int, str]] = json.loads(result.stdout)
    # Warnings too: a project of this package shows none of its own.
    assert [m for m in messages if (m[0] or "").startswith("typed_signals.")] == []
