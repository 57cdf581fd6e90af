from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.dispatch import Signal as DjangoSignal

from django_typed_signals import TypedSignal, mute
from django_typed_signals.testing import assert_not_sent, assert_sent


@dataclass(frozen=True)
class Paid:
    order: int
    amount: Decimal

    @property
    def large(self) -> bool:
        return self.amount >= 100


paid = TypedSignal(Paid, name="assertions.paid", groups=["assertions-billing"])
plain = DjangoSignal()


class Shop:
    def __repr__(self) -> str:
        return "<Shop>"


def pay(*amounts: int) -> None:
    for order, amount in enumerate(amounts, start=1):
        paid.send(Shop(), Paid(order, Decimal(amount)))


def test_assert_sent_passes_on_any_send_and_gives_the_record() -> None:
    with assert_sent(paid) as sent:
        pay(10, 20)

    assert [p.amount for p in sent.payloads] == [10, 20]


def test_assert_sent_fails_when_nothing_was_sent() -> None:
    with pytest.raises(AssertionError) as info, assert_sent(paid):
        pass
    assert str(info.value) == "expected assertions.paid to be sent; it was never sent"


def test_assert_sent_counts_exactly() -> None:
    with assert_sent(paid, count=2):
        pay(10, 20)

    with pytest.raises(AssertionError) as info, assert_sent(paid, count=1):
        pay(10, 20)
    assert str(info.value) == (
        "expected assertions.paid to be sent once; it was sent 2 times:\n"
        "  1. sender=<Shop>, payload=Paid(order=1, amount=Decimal('10'))\n"
        "  2. sender=<Shop>, payload=Paid(order=2, amount=Decimal('20'))"
    )


def test_where_predicate_selects_the_counted_sends() -> None:
    with assert_sent(paid, count=1, where=lambda p: p.amount == 10):
        pay(10, 20)

    with (
        pytest.raises(AssertionError) as info,
        assert_sent(paid, count=2, where=lambda p: p.amount > 15),
    ):
        pay(10, 20)
    message = str(info.value)
    assert message.startswith(
        "expected assertions.paid to be sent 2 times where "
        "test_where_predicate_selects_the_counted_sends.<locals>.<lambda>; "
        "it was sent 2 times, 1 matching:\n"
    )
    assert message.endswith(
        "  1. sender=<Shop>, payload=Paid(order=1, amount=Decimal('10'))\n"
        "  2. sender=<Shop>, payload=Paid(order=2, amount=Decimal('20')) [matches]"
    )


def test_where_mapping_compares_attributes() -> None:
    with assert_sent(paid, count=1, where={"order": 2, "large": True}):
        pay(10, 200)

    with (
        pytest.raises(AssertionError) as info,
        assert_sent(paid, where={"amount": Decimal("99")}),
    ):
        pay(10)
    assert str(info.value) == (
        "expected assertions.paid to be sent where {'amount': Decimal('99')}; "
        "it was sent once, none matching:\n"
        "  1. sender=<Shop>, payload=Paid(order=1, amount=Decimal('10'))"
    )


def test_misspelt_where_attribute_fails_at_once() -> None:
    with pytest.raises(AttributeError) as info:
        assert_sent(paid, where={"amout": 10})
    assert str(info.value) == (
        "where={'amout': ...}: Paid payloads of assertions.paid have no "
        "attribute 'amout'; fields: amount, order"
    )


def test_where_mapping_on_plain_signals_compares_arguments() -> None:
    with assert_sent(plain, where={"status": "paid"}):
        plain.send(None, status="new")
        plain.send(None, status="paid")

    with (
        pytest.raises(KeyError, match="the send has no argument 'state'"),
        assert_sent(plain, where={"state": "paid"}),
    ):
        plain.send(None, status="paid")


def test_assert_not_sent_passes_when_silent_and_fails_listing_sends() -> None:
    with assert_not_sent(paid):
        pass

    with pytest.raises(AssertionError) as info, assert_not_sent(paid):
        pay(10)
    assert str(info.value) == (
        "expected assertions.paid not to be sent; it was sent once:\n"
        "  1. sender=<Shop>, payload=Paid(order=1, amount=Decimal('10'))"
    )


def test_assert_not_sent_where_ignores_other_sends() -> None:
    with assert_not_sent(paid, where=lambda p: p.large):
        pay(10, 20)

    with (
        pytest.raises(AssertionError, match="not to be sent where"),
        assert_not_sent(paid, where={"order": 2}),
    ):
        pay(10, 20)


def test_assertions_see_muted_sends() -> None:
    with mute("assertions-billing"), assert_sent(paid, count=1):
        pay(10)


def test_the_blocks_own_error_is_not_hidden_by_the_assertion() -> None:
    with pytest.raises(ZeroDivisionError), assert_sent(paid):
        1 / 0  # noqa: B018


def test_long_lists_of_sends_are_cut_short() -> None:
    with pytest.raises(AssertionError) as info, assert_not_sent(paid):
        pay(*range(25))
    message = str(info.value)
    assert "it was sent 25 times:" in message
    assert "  20. sender=<Shop>" in message
    assert "  21. " not in message
    assert message.endswith("\n  ... and 5 more")


def test_long_payload_reprs_are_cut_short() -> None:
    with pytest.raises(AssertionError) as info, assert_not_sent(plain):
        plain.send(None, text="x" * 1000)
    assert len(str(info.value)) < 400


def test_count_must_be_a_natural_number() -> None:
    for count in (-1, True, "1"):
        with pytest.raises(TypeError, match="count must be an int >= 0"):
            assert_sent(paid, count=count)  # type: ignore[arg-type]


def test_where_must_be_a_predicate_or_mapping() -> None:
    with pytest.raises(TypeError, match="where= takes a predicate or a mapping"):
        assert_sent(paid, where=3)  # type: ignore[call-overload]
