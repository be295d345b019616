"""The test builders: every helper more than one test module uses, by audience.

A test module imports from here and never from another test module
(tests/unit/test_test_layout.py holds the rule; docs/testing.md shows how to use them).

    residents    ID numbers, sign-in, real-name binding, consents, a resident's own reads
    departments  the credit office's admin, departments and their record pushes
    merchants    approved merchants, perks, one-time codes, the counter's scan and grant
    workers      housekeeping workers, report shares, the report page's text
    face         face verification steps (人脸核身) against WeChat's stub
    face_stub    WeChat's face verification as a local stub server
    files        evidence files: small valid PDF, JPEG and PNG documents
    console      staff console accounts and the sign-in form
    console_routes  every console route and the answer each console caller gets
    rules        the rule set's worked cases and Hypothesis strategies for records
    clock        moments on a Shanghai calendar day
    servers      what stands around the app: the stores emptied, the job worker, a spare
                 redis-server on a free port
"""
