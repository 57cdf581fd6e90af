from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.auth.models import User
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.checks import Error, run_checks
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from typing_extensions import assert_type

from django_typed_signals import receiver
from django_typed_signals._registry import CHECKS_TAG
from django_typed_signals.lifecycle import PreSave, send_post_save, tracked_fields
from django_typed_signals.lifecycle._wiring import pre_save
from django_typed_signals.services._transition_checks import check_transitions
from django_typed_signals.services._transitions import (
    InvalidTransition,
    Transitions,
    all_transitions,
)
from tests.testapp.models import Article, Note, Order

pytestmark = pytest.mark.django_db

FLOW = {
    "draft": {"review"},
    "review": {"draft", "published"},
    "published": {"archived"},
}


@pytest.fixture
def made() -> Iterator[list[Transitions[Any]]]:
    """Transitions a test creates, forgotten after it (guards included)."""
    created: list[Transitions[Any]] = []
    yield created
    for each in created:
        each.forget()


@pytest.fixture
def flow(made: list[Transitions[Any]]) -> Transitions[Article]:
    transitions = Transitions(Article, "status", FLOW)
    made.append(transitions)
    return transitions


@pytest.fixture
def guarded(flow: Transitions[Article]) -> Transitions[Article]:
    return flow.guard()


def stored_status(article: Article) -> str:
    return Article.objects.get(pk=article.pk).status


# -- check() ---------------------------------------------------------------


def test_check_allows_the_map_and_staying_put(flow: Transitions[Article]) -> None:
    flow.check("draft", "review")
    flow.check("review", "published")
    flow.check("archived", "archived")  # no change, even in a terminal state


def test_check_refuses_with_a_message_naming_everything(
    flow: Transitions[Article],
) -> None:
    with pytest.raises(InvalidTransition) as raised:
        flow.check("review", "archived")

    error = raised.value
    assert isinstance(error, ValidationError)
    assert str(error) == (
        "testapp.Article.status: cannot change from 'review' to 'archived'; "
        "allowed from 'review': 'draft', 'published'"
    )
    assert error.messages == [str(error)]
    assert error.code == "invalid_transition"
    assert (error.model, error.field, error.old, error.new) == (
        "testapp.Article",
        "status",
        "review",
        "archived",
    )
    assert error.allowed == ["draft", "published"]
    assert not error.created


def test_a_state_that_is_no_key_is_terminal(flow: Transitions[Article]) -> None:
    with pytest.raises(InvalidTransition, match=r"allowed from 'archived': none$"):
        flow.check("archived", "draft")


def test_a_percent_in_a_state_does_not_break_the_message(
    made: list[Transitions[Any]],
) -> None:
    odd = Transitions(Order, "status", {"100%": {"done"}})
    made.append(odd)
    with pytest.raises(InvalidTransition) as raised:
        odd.check("100%", "50%")
    assert "'100%' to '50%'" in str(raised.value)


# -- the guard on save() ----------------------------------------------------


def test_guard_lets_allowed_saves_through(guarded: Transitions[Article]) -> None:
    article = Article.objects.create(title="a")
    article.status = "review"
    article.save()
    article.status = "published"
    article.save(update_fields=["status"])

    assert stored_status(article) == "published"


def test_guard_refuses_a_save_and_the_row_keeps_its_status(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "published"

    with pytest.raises(InvalidTransition, match="from 'draft' to 'published'"):
        article.save()
    assert stored_status(article) == "draft"


def test_guard_checks_from_the_last_saved_value(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "review"
    article.save()
    article.status = "draft"  # review -> draft is allowed, draft -> draft too
    article.save()
    article.status = "published"

    with pytest.raises(InvalidTransition, match="from 'draft'"):
        article.save()


def test_guard_uses_no_query_for_tracked_rows(
    guarded: Transitions[Article], django_assert_num_queries: Any
) -> None:
    Article.objects.create(title="a")
    article = Article.objects.get()
    article.status = "review"
    with django_assert_num_queries(1):  # the UPDATE
        article.save()


def test_guard_reads_the_database_when_the_status_was_deferred(
    guarded: Transitions[Article],
) -> None:
    Article.objects.create(title="a")
    article = Article.objects.only("title").get()
    article.status = "published"

    with pytest.raises(InvalidTransition, match="from 'draft' to 'published'"):
        article.save()
    assert stored_status(article) == "draft"


def test_guard_reads_the_database_for_instances_built_with_a_pk(
    guarded: Transitions[Article], django_assert_num_queries: Any
) -> None:
    stored = Article.objects.create(title="a")
    built = Article(pk=stored.pk, title="a", status="archived")  # no baseline

    with (
        django_assert_num_queries(1),
        pytest.raises(InvalidTransition, match="from 'draft' to 'archived'"),
    ):
        built.save()
    Article(pk=stored.pk, title="b", status="review").save()
    assert stored_status(stored) == "review"


def test_a_save_that_does_not_write_the_field_is_not_checked(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "archived"
    article.title = "b"
    article.save(update_fields=["title"])

    stored = Article.objects.get(pk=article.pk)
    assert (stored.title, stored.status) == ("b", "draft")


def test_creation_must_start_in_an_initial_state(
    guarded: Transitions[Article],
) -> None:
    Article.objects.create(title="ok")  # the field's default, "draft"

    with pytest.raises(InvalidTransition) as raised:
        Article.objects.create(title="no", status="published")

    assert raised.value.created
    assert str(raised.value) == (
        "testapp.Article.status: a new row cannot start as 'published'; "
        "initial states: 'draft'"
    )
    assert list(Article.objects.values_list("title", flat=True)) == ["ok"]


def test_initial_defaults_to_every_state_without_a_field_default(
    made: list[Transitions[Any]],
) -> None:
    ticket = Transitions(Note, "text", {"open": {"closed"}})  # no default
    explicit = Transitions(Article, "status", FLOW, initial=["draft", "review"])
    made += [ticket, explicit]

    assert ticket.initial == {"open", "closed"}
    assert explicit.initial == {"draft", "review"}


def test_explicit_initial_states_apply_on_create(made: list[Transitions[Any]]) -> None:
    made.append(
        Transitions(Article, "status", FLOW, initial=["draft", "review"]).guard()
    )
    Article.objects.create(title="a", status="review")

    with pytest.raises(InvalidTransition, match="initial states: 'draft', 'review'"):
        Article.objects.create(title="b", status="archived")


def test_a_copy_saved_with_pk_none_is_a_creation(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "review"
    article.save()
    article.pk = None
    article._state.adding = True

    with pytest.raises(InvalidTransition, match="cannot start as 'review'"):
        article.save()


def test_guard_is_idempotent_chainable_and_undone(flow: Transitions[Article]) -> None:
    before = len(pre_save.receivers)

    assert flow.guard() is flow
    assert flow.guard() is flow
    assert len(pre_save.receivers) == before + 1
    assert flow.guarded
    assert "status" in tracked_fields(Article).values()

    assert flow.unguard() is flow
    assert len(pre_save.receivers) == before
    Article.objects.create(title="free", status="archived")  # unchecked


def test_guard_runs_before_other_pre_save_receivers(
    guarded: Transitions[Article],
) -> None:
    seen: list[str] = []

    @receiver(PreSave, sender=Article)
    def after(
        sender: type[Article], *, payload: PreSave[Article], **kwargs: object
    ) -> None:
        seen.append(payload.instance.status)

    try:
        with pytest.raises(InvalidTransition):
            Article.objects.create(title="a", status="archived")
    finally:
        pre_save.disconnect(after, sender=Article)
    assert seen == []


def test_raw_saves_are_not_checked(guarded: Transitions[Article]) -> None:
    article = Article(title="fixture", status="archived", pk=99)
    article.save_base(raw=True)

    assert stored_status(article) == "archived"


# -- the admin ----------------------------------------------------------------


def test_admin_change_view_refuses_the_change_and_keeps_the_row(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    model_admin = ModelAdmin(Article, AdminSite(name="transitions_admin"))
    request = RequestFactory().post(
        "/", {"title": "a", "status": "published", "_save": "Save"}
    )
    request.user = User.objects.create_superuser("root")
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]

    with pytest.raises(InvalidTransition, match="from 'draft' to 'published'"):
        model_admin.change_view(request, str(article.pk))
    assert stored_status(article) == "draft"


# -- allowed() ------------------------------------------------------------------


def test_allowed_lists_the_next_states_sorted(flow: Transitions[Article]) -> None:
    article = Article.objects.create(title="a", status="review")

    assert flow.allowed(article) == ["draft", "published"]
    article.status = "archived"
    assert flow.allowed(article) == []
    assert flow.allowed(Article(title="new")) == ["draft"]


# -- check_all() and bulk writes ----------------------------------------------


def test_check_all_before_bulk_update(guarded: Transitions[Article]) -> None:
    Article.objects.bulk_create([Article(title="a"), Article(title="b")])
    first, second = Article.objects.order_by("title")
    first.status = "review"
    second.status = "published"

    with pytest.raises(InvalidTransition, match="from 'draft' to 'published'"):
        guarded.check_all([first, second], ["status"])

    second.status = "review"
    guarded.check_all([first, second], ["status"])
    Article.objects.bulk_update([first, second], ["status"])
    send_post_save(Article, [first, second], created=False, update_fields=["status"])
    # send_post_save moved the baseline: review is now the old value.
    first.status = "published"
    second.status = "archived"
    with pytest.raises(InvalidTransition, match="from 'review' to 'archived'"):
        guarded.check_all([first, second])


def test_check_all_skips_writes_without_the_field(
    guarded: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "archived"

    guarded.check_all([article], ["title"])


def test_check_all_reads_rows_without_a_baseline_in_one_query(
    flow: Transitions[Article], django_assert_num_queries: Any
) -> None:
    first, second = Article.objects.bulk_create(
        [Article(title="a"), Article(title="b")]
    )
    # Built from an API's data, say: no baseline to compare with.
    built = [
        Article(pk=first.pk, status="review"),
        Article(pk=second.pk, status="archived"),
    ]

    with (
        django_assert_num_queries(1),
        pytest.raises(InvalidTransition, match="from 'draft' to 'archived'"),
    ):
        flow.check_all(built, ["status"])
    built[1].status = "review"
    flow.check_all(built, ["status"])
    Article.objects.bulk_update(built, ["status"])


def test_check_all_checks_new_instances_against_initial(
    flow: Transitions[Article],
) -> None:
    with pytest.raises(InvalidTransition, match="cannot start as 'review'"):
        flow.check_all([Article(title="a"), Article(title="b", status="review")])


def test_check_all_refuses_other_models(flow: Transitions[Article]) -> None:
    with pytest.raises(TypeError, match="got a Order instance"):
        flow.check_all([Order()])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]


# -- the constructor ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((object, "status", {}), "takes a model class, got <class 'object'>"),
        ((Article, "", {}), "field must be a name, got ''"),
        ((Article, "status", [("a", "b")]), "must be a mapping of state"),
        ((Article, "status", {"draft": "review"}), "targets of 'draft' must be an"),
        ((Article, "status", {"draft": 3}), "got int: 3"),
        ((Article, "status", {"draft": [["x"]]}), r"must be hashable, got \['x'\]"),
    ],
)
def test_constructor_refuses_wrong_types(args: tuple[Any, ...], message: str) -> None:
    count = len(all_transitions())
    with pytest.raises(TypeError, match=message):
        Transitions(*args)
    assert len(all_transitions()) == count


def test_constructor_refuses_a_string_as_initial() -> None:
    with pytest.raises(TypeError, match="initial must be an iterable of states"):
        Transitions(Article, "status", FLOW, initial="draft")


# -- system checks ----------------------------------------------------------------


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_check_accepts_maps_within_the_choices(flow: Transitions[Article]) -> None:
    assert check_transitions() == []
    assert run_checks(tags=[CHECKS_TAG]) == []


def test_e401_names_each_state_outside_the_choices(
    made: list[Transitions[Any]],
) -> None:
    bad = Transitions(
        Article,
        "status",
        {"draft": {"reviw"}, "gone": {"draft"}},
        initial=["draft", "new"],
    )
    made.append(bad)

    messages = check_transitions()
    assert ids(messages) == ["typed_signals.E401"] * 3
    assert [m.msg for m in messages] == [
        "<Transitions testapp.Article.status>: key 'gone' is not one of the "
        "choices of testapp.Article.status.",
        "<Transitions testapp.Article.status>: target 'reviw' is not one of "
        "the choices of testapp.Article.status.",
        "<Transitions testapp.Article.status>: initial state 'new' is not one "
        "of the choices of testapp.Article.status.",
    ]
    assert messages[0].obj is Article
    assert messages[0].hint == "Choices: 'archived', 'draft', 'published', 'review'."
    assert isinstance(messages[0], Error)
    assert ids(run_checks(tags=[CHECKS_TAG])) == ids(messages)

    bad.forget()
    assert run_checks(tags=[CHECKS_TAG]) == []


def test_no_e401_for_a_field_without_choices(made: list[Transitions[Any]]) -> None:
    made.append(Transitions(Order, "status", {"anything": {"goes"}}))
    assert check_transitions() == []


def test_e402_for_a_missing_or_not_concrete_field(
    made: list[Transitions[Any]],
) -> None:
    made += [
        Transitions(Article, "state", {"a": {"b"}}),
        Transitions(Order, "items", {"a": {"b"}}),  # a reverse relation
        Transitions(Order, "tags", {"a": {"b"}}),  # many-to-many
    ]

    messages = check_transitions()
    assert ids(messages) == ["typed_signals.E402"] * 3
    assert messages[0].msg == (
        "<Transitions testapp.Article.state>: testapp.Article has no field 'state'"
    )
    assert messages[0].hint == (
        "Name one of the concrete fields of testapp.Article: id, status, title."
    )
    assert "testapp.Order.items is not a concrete field" in messages[1].msg
    assert "testapp.Order.tags is not a concrete field" in messages[2].msg
    assert ids(run_checks(tags=[CHECKS_TAG])) == ids(messages)


def test_checks_only_for_the_apps_asked(made: list[Transitions[Any]]) -> None:
    from django.apps import apps

    made.append(Transitions(Article, "state", {"a": {"b"}}))

    assert check_transitions([apps.get_app_config("auth")]) == []
    assert len(check_transitions([apps.get_app_config("testapp")])) == 1


def test_choices_members_work_as_states(made: list[Transitions[Any]]) -> None:
    Status = Article.Status
    members = Transitions(Article, "status", {Status.DRAFT: [Status.REVIEW]})
    made.append(members)

    assert members.allowed(Article.objects.create(title="a")) == ["review"]
    with pytest.raises(InvalidTransition) as raised:
        members.check(Status.DRAFT, Status.ARCHIVED)
    assert (raised.value.old, raised.value.allowed) == ("draft", ["review"])
    assert "from 'draft' to 'archived'" in str(raised.value)


def test_the_model_type_is_inferred(made: list[Transitions[Any]]) -> None:
    inferred = Transitions(Article, "status", FLOW)
    made.append(inferred)

    assert_type(inferred, Transitions[Article])
    with pytest.raises(TypeError, match="allowed\\(\\): got a Order instance"):
        inferred.allowed(Order())  # type: ignore[arg-type]  # an Order is no Article


def test_validate_checks_the_pending_change_without_saving(
    flow: Transitions[Article],
) -> None:
    article = Article.objects.create(title="a")
    article.status = "review"
    flow.validate(article)
    article.status = "archived"

    with pytest.raises(InvalidTransition, match="from 'draft' to 'archived'"):
        flow.validate(article)
    with pytest.raises(InvalidTransition, match="cannot start as 'review'"):
        flow.validate(Article(title="b", status="review"))
    assert stored_status(article) == "draft"
