"""Masked phone numbers: the country code and the last two digits, nothing a caller could dial or guess."""
import phonenumbers
import pytest

from crisiscast.core import masking
from crisiscast.core.masking import mask_phone


@pytest.mark.parametrize("number, masked", [
    ("+15125551267", "+1 ••••••••67"),
    ("+442079460958", "+44 ••••••••58"),
    ("+881612345678", "+881 •••••••78"),
    ("5125551267", "••••••••67"),
    ("12345", "••"),
    ("", "••"),
])
def test_only_the_country_code_and_the_last_two_digits_show(number, masked):
    assert mask_phone(number) == masked


def test_a_masked_number_keeps_no_digit_of_the_area_code_or_exchange():
    masked = mask_phone("+15125551267")
    assert "512" not in masked and "555" not in masked
    digits = "".join(ch for ch in masked if ch.isdigit())
    assert not phonenumbers.is_possible_number(phonenumbers.parse("+" + digits, None))


def test_numbers_a_provider_echoes_are_masked_and_short_codes_kept():
    text = "Invalid 'To' Phone Number: 5125551267; region of +447911123456 (21408); see /errors/21211"
    assert masking.mask_numbers(text) == ("Invalid 'To' Phone Number: ••••••••67; region of +44 ••••••••56 "
                                          "(21408); see /errors/21211")
    assert masking.mask_numbers("To=%2B15125551267") == "To=%2B•••••••••67"
    assert masking.mask_numbers("") == ""


def test_phone_numbers_in_text_are_masked_and_other_digits_kept():
    """The HICS 214 and the drill report mask with this too; a number run into letters is still masked."""
    assert masking.mask_numbers("+15125551267abc") == "+1 ••••••••67abc"
    text = "Twilio: The 'To' number +15125551267 is not valid; call 254-724-2111, room 12"
    assert masking.mask_numbers(text) == "Twilio: The 'To' number +1 ••••••••67 is not valid; call 254-724-2111, room 12"
    assert masking.mask_numbers("+447700900123 and +15125550100") == "+44 ••••••••23 and +1 ••••••••00"


def test_provider_ids_are_left_whole_though_they_carry_long_digit_runs():
    """A log line or report naming a message stays searchable; the number beside it is still masked."""
    sid, post = "SM4a12345678bc" + "0" * 20, "104512345678901_987654321098765"
    text = f"a second message {sid} for +15125551267 (post {post})"
    assert masking.mask_numbers(text) == f"a second message {sid} for +1 ••••••••67 (post {post})"
    assert masking.mask_numbers("SM" + "5" * 32) == "SM" + "5" * 32

