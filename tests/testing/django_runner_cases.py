"""Test classes using ``MuteSignalsMixin``, for two runners.

Django's test runner runs this module in ``test_django_runner`` (a
subprocess); ``test_mixins`` imports the classes so that pytest-django runs
them as well. The file name keeps pytest from collecting it twice.

Saving a ``Note`` relays to two typed signals in two groups; each class mutes
one of them and checks, from fixture loading to the tests themselves, that
the muted one stayed silent while the other was heard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models.signals import post_save
from django.test import SimpleTestCase, TestCase, TransactionTestCase

from django_typed_signals import TypedSignal, mute, receiver
from django_typed_signals.testing import MuteSignalsMixin, capture
from tests.testapp.models import Note


@dataclass(frozen=True)
class NoteSaved:
    text: str


note_saved = TypedSignal(NoteSaved, name="runner.note_saved", groups=["runner-notes"])
note_audited = TypedSignal(
    NoteSaved, name="runner.note_audited", groups=["runner-audit"]
)

heard: list[str] = []


@receiver(note_saved)
def hear_saved(sender: object, *, payload: NoteSaved, **kwargs: object) -> None:
    heard.append(f"saved:{payload.text}")


@receiver(note_audited)
def hear_audited(sender: object, *, payload: NoteSaved, **kwargs: object) -> None:
    heard.append(f"audited:{payload.text}")


def relay(sender: type[Note], *, instance: Note, **kwargs: Any) -> None:
    note_saved.send(sender, NoteSaved(instance.text))
    note_audited.send(sender, NoteSaved(instance.text))


NOTES_FIXTURE = str(Path(__file__).with_name("fixtures") / "notes.json")


class RelayNoteSaves(SimpleTestCase):
    """Relays ``Note`` saves for the class, from before its fixtures load."""

    @classmethod
    def setUpClass(cls) -> None:
        heard.clear()
        post_save.connect(relay, sender=Note, dispatch_uid="runner-relay")
        try:
            super().setUpClass()
        except BaseException:
            post_save.disconnect(sender=Note, dispatch_uid="runner-relay")
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        try:
            super().tearDownClass()
        finally:
            post_save.disconnect(sender=Note, dispatch_uid="runner-relay")


class MutedGroupTests(RelayNoteSaves, MuteSignalsMixin, TestCase):
    muted_signal_groups = ("runner-notes",)
    fixtures = (NOTES_FIXTURE,)

    heard_while_setting_up: list[str]

    @classmethod
    def setUpTestData(cls) -> None:
        Note.objects.create(text="from setUpTestData")
        cls.heard_while_setting_up = list(heard)

    def setUp(self) -> None:
        heard.clear()

    def test_fixtures_and_set_up_test_data_ran_muted(self) -> None:
        texts = list(Note.objects.order_by("pk").values_list("text", flat=True))
        self.assertEqual(texts, ["from fixture", "from setUpTestData"])
        self.assertEqual(
            self.heard_while_setting_up,
            ["audited:from fixture", "audited:from setUpTestData"],
        )

    def test_tests_run_muted_and_capture_still_sees_the_send(self) -> None:
        with capture(note_saved) as sent:
            Note.objects.create(text="in a test")
        self.assertEqual(sent.one(), NoteSaved("in a test"))
        self.assertEqual(heard, ["audited:in a test"])

    @mute("runner-audit")
    def test_a_test_mutes_more_with_the_decorator(self) -> None:
        Note.objects.create(text="decorated")
        self.assertEqual(heard, [])

    def test_a_block_mutes_more_and_restores_the_class_mute(self) -> None:
        with mute(note_audited):
            Note.objects.create(text="in the block")
        Note.objects.create(text="after the block")
        self.assertEqual(heard, ["audited:after the block"])

    async def test_async_tests_run_muted(self) -> None:
        await note_saved.asend(None, NoteSaved("async"))
        await note_audited.asend(None, NoteSaved("async"))
        self.assertEqual(heard, ["audited:async"])


class MutedSignalTransactionTests(
    RelayNoteSaves, MuteSignalsMixin, TransactionTestCase
):
    muted_signals = (note_audited,)
    fixtures = (NOTES_FIXTURE,)

    heard_before_test: list[str]

    def setUp(self) -> None:
        # TransactionTestCase loads fixtures before each test, after setUpClass.
        self.heard_before_test = list(heard)
        heard.clear()

    def test_fixtures_loaded_per_test_are_muted(self) -> None:
        self.assertEqual(self.heard_before_test, ["saved:from fixture"])
        Note.objects.create(text="in a test")
        self.assertEqual(heard, ["saved:in a test"])


class MutedSimpleTests(MuteSignalsMixin, SimpleTestCase):
    muted_signal_groups = ("runner-notes", "runner-audit")

    def setUp(self) -> None:
        heard.clear()

    def test_no_database_needed(self) -> None:
        note_saved.send(None, NoteSaved("simple"))
        note_audited.send(None, NoteSaved("simple"))
        self.assertEqual(heard, [])
