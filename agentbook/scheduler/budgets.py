"""Budgets enforced before each model request: the accounts of a run's budgets and the request
hook that reserves against them.

Every budget that covers an agent is an `Account`: the run's (shared by all its agents,
sub-agents and teammates), the agent's own (its task's or its definition's `budget`) and each
of its ancestors' (a coordinator's budget covers the sub-agents it starts).  Before each attempt
`BudgetHook` reserves the request's worst case on every one of them: its input tokens (estimated
with a margin, `INPUT_MARGIN`, since they are counted before sending) priced as cache writes, the
dearest kind of input, plus `max_tokens` of output; one response and the elapsed time count too.
If an account could be passed only because of other agents' reservations, the request waits
for them to settle (their real cost is usually far below their worst case); if it could be passed
on what is spent alone, the request is not sent: `BudgetExceeded` ends the agent in the `budget`
state with what it has (resumable with a larger budget).  After the attempt the
reservation is settled to the real usage (nothing, for a failed attempt).  Reservations are made
and checked in one step on the run's event loop, so siblings racing for the last dollars cannot
together pass the budget: the run's spend never exceeds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agentbook.agent.gates import BudgetExceeded, RequestOutcome
from agentbook.budgets import Budget
from agentbook.costs import cost_usd, price_for
from agentbook.messages import Request, Response
from agentbook.models.base import RequestEstimator
from agentbook.models.lanes import batch_billed
from agentbook.scheduler.records import AgentRecord
from agentbook.specs import AgentSpec, Task

__all__ = ["INPUT_MARGIN", "Account", "BudgetHook", "Budgets", "accounts_for"]

INPUT_MARGIN = 1.25
"""The estimated input tokens are reserved times this: the estimate is not the API's count."""


@dataclass
class Account:
    """What has been spent, and is reserved, against one `budget` (`label` names it in errors)."""

    budget: Budget
    label: str
    clock: Callable[[], float] = time.monotonic
    usd: float = 0.0
    tokens: int = 0
    turns: int = 0
    held_usd: float = 0.0
    held_tokens: int = 0
    held_turns: int = 0
    started: float = field(default=0.0)
    settled: set[asyncio.Future[None]] = field(default_factory=set)
    """Requests waiting for a reservation to be settled or given back."""

    def __post_init__(self) -> None:
        self.started = self.started or self.clock()

    def refusal(self, usd: float, tokens: int, *, held: bool = True) -> str | None:
        """Why one more request (costing at most `usd` and `tokens`) could pass the budget,
        counting what other requests hold (`held`) or only what is spent."""
        b, spent = self.budget, f"spent ${self.usd:.4f}, {self.tokens:,} tokens, {self.turns} turns"
        more_usd, more_tokens, more_turns = (
            (self.held_usd, self.held_tokens, self.held_turns) if held else (0, 0, 0)
        )
        if b.usd is not None and self.usd + more_usd + usd > b.usd:
            why = f"${b.usd:g} could be passed: {spent}; the next request may cost ${usd:.4f}"
        elif b.tokens is not None and self.tokens + more_tokens + tokens > b.tokens:
            why = f"{b.tokens:,} tokens could be passed: {spent}; the next request may use {tokens:,}"
        elif b.turns is not None and self.turns + more_turns + 1 > b.turns:
            why = f"{b.turns} turns is spent ({spent})"
        elif b.seconds is not None and self.clock() - self.started > b.seconds:
            why = f"{b.seconds:g} s is spent ({spent})"
        else:
            return None
        return f"the {self.label} budget of {why}"

    def hold(self, usd: float, tokens: int, turns: int = 1) -> None:
        self.held_usd += usd
        self.held_tokens += tokens
        self.held_turns += turns
        if self.held_turns == 0:  # nothing held: no float residue of the sums may stand in the way
            self.held_usd, self.held_tokens = 0.0, 0
        if turns < 0:  # given back: whoever waits for room looks again
            waiting, self.settled = self.settled, set()
            for future in waiting:
                if not future.done():
                    future.set_result(None)

    def spend(self, usd: float, tokens: int, turns: int = 1) -> None:
        self.usd, self.tokens, self.turns = self.usd + usd, self.tokens + tokens, self.turns + turns


class BudgetHook:
    """A `RequestHook` over the `accounts` that cover one agent on `model`; see the module
    docstring.  One per agent (it holds the reservation of the agent's attempt in flight)."""

    def __init__(self, accounts: Sequence[Account], model: str, *, batch: bool = False) -> None:
        self.accounts, self.model, self.batch = list(accounts), model, batch
        self._estimate = RequestEstimator()
        self._held: tuple[float, int] | None = None

    def worst_case(self, request: Request) -> tuple[float, int]:
        """The most `request` can cost: dollars and tokens."""
        tokens_in = int(self._estimate(request) * INPUT_MARGIN)
        price = price_for(self.model)
        price = price.batch() if price is not None and self.batch else price  # the batch lane's rates
        usd = 0.0
        if price is not None:
            dearest_input = max(price.input, price.cache_write_5m)
            usd = (tokens_in * dearest_input + request.max_tokens * price.output) / 1e6
        return usd, tokens_in + request.max_tokens

    async def before_request(self, agent: str, request: Request) -> None:
        usd, tokens = self.worst_case(request)
        while True:  # check all, then hold all: no await in between
            for account in self.accounts:
                why = account.refusal(usd, tokens, held=False)
                if why is not None:
                    raise BudgetExceeded(why)
            full = [a for a in self.accounts if a.refusal(usd, tokens) is not None]
            if not full:
                break
            room = asyncio.get_running_loop().create_future()
            full[0].settled.add(room)
            await room  # another request's reservation comes back: look again
        for account in self.accounts:
            account.hold(usd, tokens)
        self._held = (usd, tokens)
        if self.batch:  # a batch may still bill this request after the agent stops waiting
            batch_billed.set(self._charge)

    async def after_request(self, agent: str, outcome: RequestOutcome) -> float | None:
        self.release()
        if outcome.response is not None:
            self._charge(outcome.response)
        return None

    def _charge(self, response: Response) -> None:
        """Spend what `response` cost (a batch's answer at the batch rates) on every account."""
        usage = response.usage
        usd = cost_usd(usage, response.model or self.model, service_tier=response.service_tier) or 0.0
        for account in self.accounts:
            account.spend(usd, usage.total_input_tokens + usage.output_tokens)

    def release(self) -> None:
        """Give back the reservation of the attempt in flight (it ended, or was cancelled)."""
        if self._held is not None:
            usd, tokens = self._held
            for account in self.accounts:
                account.hold(-usd, -tokens, -1)
            self._held = None


def accounts_for(
    record: AgentRecord, records: Mapping[str, AgentRecord], accounts: dict[str, Account],
    run_budget: Budget | None, own: Callable[[AgentRecord], Budget | None],
) -> list[Account]:  # fmt: skip
    """The accounts covering `record`: the run's, its own and its ancestors' (`own(record)` is an
    agent's own budget).  Made on first use in `accounts` and kept across resumes; a new one
    starts from what the agents it covers have spent already (after `load_run`, or a budget
    given to work that had none)."""
    found: list[Account] = []
    if run_budget is not None:
        if "" not in accounts:
            accounts[""] = _opened(Account(run_budget, "run"), records.values())
        found.append(accounts[""])
    current: AgentRecord | None = record
    while current is not None:
        budget = own(current)
        if budget is not None:
            if current.name not in accounts:
                covered = [r for r in records.values() if r is current or _descends(r, current.name, records)]
                accounts[current.name] = _opened(Account(budget, f"agent {current.name!r}"), covered)
            found.append(accounts[current.name])
        current = records.get(current.parent) if current.parent else None
    return found


def _opened(account: Account, records: Iterable[AgentRecord]) -> Account:
    """`account` charged with what `records` have spent so far (every call they made)."""
    for record in records:
        for call in record.calls:
            usd = cost_usd(call.usage, call.model, service_tier=call.service_tier) or 0.0
            account.spend(usd, call.usage.total_input_tokens + call.usage.output_tokens)
    return account


def _descends(record: AgentRecord, ancestor: str, records: Mapping[str, AgentRecord]) -> bool:
    parent = record.parent
    while parent is not None:
        if parent == ancestor:
            return True
        parent = records[parent].parent if parent in records else None
    return False


class Budgets:
    """A run's budget accounts (`accounts[""]` the run's, else by agent name) and the hooks
    that charge them; `spec_of(task)` is a task's agent definition (its `budget`)."""

    def __init__(
        self, run_budget: Budget | None, records: Mapping[str, AgentRecord],
        spec_of: Callable[[Task], AgentSpec | None],
    ) -> None:  # fmt: skip
        self.run_budget, self.records, self.spec_of = run_budget, records, spec_of
        self.accounts: dict[str, Account] = {}

    def own(self, record: AgentRecord) -> Budget | None:
        """`record`'s own budget: its task's, else its agent definition's."""
        spec = self.spec_of(record.task)
        return record.task.budget or (spec.budget if spec is not None else None)

    def hook(self, record: AgentRecord, model: str, batch: bool = False) -> BudgetHook | None:
        """The request hook charging every budget that covers `record` (its requests on the batch
        lane when `batch`), or `None` if none does."""
        record.budget = self.own(record)
        accounts = accounts_for(record, self.records, self.accounts, self.run_budget, self.own)
        return BudgetHook(accounts, model, batch=batch) if accounts else None

    def raise_to(self, budget: Budget, name: str = "") -> None:
        """Give the run (`name` ""), or agent `name`, a new budget from now on; what was spent
        still counts against it."""
        if name == "":
            self.run_budget = budget
        account = self.accounts.get(name)
        if account is not None:
            account.budget = budget
