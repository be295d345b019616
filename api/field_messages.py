"""marshmallow's and webargs' own field messages, marked for the message catalog.

They are English texts inside those libraries; the error renderer (`api/smorest.py`)
shows them in the reader's language with `points.i18n.translate_tree`, which finds the
message each one was made from. tests/api/test_i18n.py checks that every default
message of the installed marshmallow is here, so an upgrade that adds one is noticed.
`validate.Range` builds its texts in two steps; their final forms are listed.
"""
from points.i18n import N_

MESSAGES = (
    # marshmallow.Schema
    N_("Invalid input type."),
    N_("Unknown field."),
    # marshmallow.fields
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Not a valid {obj_type}."),
    N_("Not a valid {awareness} {obj_type}."),
    N_('"{input}" cannot be formatted as a {obj_type}.'),
    N_("Not a valid boolean."),
    N_("Not a valid date."),
    N_('"{input}" cannot be formatted as a date.'),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid mapping type."),
    N_("Not a valid email address."),
    N_("Must be one of: {choices}."),
    N_("Not a valid IP address."),
    N_("Not a valid IP interface."),
    N_("Not a valid IPv4 address."),
    N_("Not a valid IPv4 interface."),
    N_("Not a valid IPv6 address."),
    N_("Not a valid IPv6 interface."),
    N_("Not a valid integer."),
    N_("Not a valid list."),
    N_("Invalid type."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid period of time."),
    N_("{input!r} cannot be formatted as a timedelta."),
    N_("Not a valid tuple."),
    N_("Not a valid URL."),
    N_("Not a valid UUID."),
    # the kinds of time in "Not a valid {obj_type}." and its neighbours
    N_("datetime"),
    N_("time"),
    N_("naive"),
    N_("aware"),
    # marshmallow.validate
    N_("One or more of the choices you made was in: {values}."),
    N_("One or more of the choices you made was not in: {choices}."),
    N_("Must be equal to {other}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Longer than maximum length {max}."),
    N_("Shorter than minimum length {min}."),
    N_("Invalid input."),
    N_("String does not match expected pattern."),
    N_("Must be greater than {min} and less than {max}."),
    N_("Must be greater than or equal to {min} and less than {max}."),
    N_("Must be greater than {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than {min}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be less than {max}."),
    N_("Must be less than or equal to {max}."),
)
