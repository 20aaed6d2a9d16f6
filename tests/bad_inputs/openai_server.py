"""The openai_server extractor's server settings on the command line (issue 28): a value the server could not take stops
the run before anything starts, naming the field."""

from __future__ import annotations

from bad_inputs.corpus import Case, good, jsonl

SERVER = "extractor=openai_server"

CASES: list[Case] = [
    Case("openai_server_no_requests_in_flight", lambda _: good("c1"), jsonl(SERVER, "extractor.max_concurrency=0"),
         exit_code=2, message="extractor.max_concurrency: Input should be greater than or equal to 1"),
    Case("openai_server_enforce_eager_not_a_choice", lambda _: good("c1"), jsonl(SERVER, "extractor.enforce_eager=sometimes"),
         exit_code=2, message="extractor.enforce_eager.literal['auto']: Input should be 'auto'"),
    Case("openai_server_no_data_parallel_rank", lambda _: good("c1"), jsonl(SERVER, "extractor.data_parallel_size=0"),
         exit_code=2, message="extractor.data_parallel_size: Input should be greater than or equal to 1"),
]
