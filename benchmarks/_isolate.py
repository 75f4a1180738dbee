"""Imported first by every benchmark script: takes this folder off ``sys.path``, because it
holds ``http.py``, which would otherwise shadow the standard library's ``http``. Also
holds what several scripts share (this folder is not importable after it runs)."""

import sys
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def rotated(names: list[str], runs: int, measure: Callable[[str], tuple[float, float]]
            ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Measure every name once per repeat, each repeat starting one name further along (so
    each is timed at every position, and the figures of one repeat were taken in the same
    minute): ``measure(name)`` gives ``(wall, cpu)`` seconds; returns both, per name."""
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            wall, used = measure(name)
            times[name].append(wall)
            cpu[name].append(used)
    return times, cpu


#: the imports of the Lambda webhook path (benchmarks/lambda_cold_start.py, lambda_package.py)
LAMBDA_IMPORTS = ("import banditbot.aws, banditbot._compose, banditbot.telegram, "
                  "banditbot.stores._dynamodb, boto3")
#: a token of the right shape (nothing is sent: nothing connects before the first update)
LAMBDA_TOKEN = "123456:" + "A" * 35
#: the first invocation's build (``LambdaApp.parts`` without ``getMe``): the packaged
#: experiments file (as deploy/template.yaml sets it), a DynamoDB store, the bot; to be
#: formatted with ``config`` and ``token``
LAMBDA_BUILD = ("\nfrom banditbot._compose import build_lambda\n"
                "from banditbot._settings import Settings\n"
                "build_lambda(Settings.from_env({{'BANDITBOT_STORE': "
                "'dynamodb://banditbot?region=eu-west-1', 'BANDITBOT_CONFIG': {config!r}, "
                "'TELEGRAM_TOKEN': {token!r}, 'BANDITBOT_WEBHOOK_SECRET': 's' * 32}}, "
                "env_file=None))")
