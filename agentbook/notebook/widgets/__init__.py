"""The notebook's widgets (ipywidgets 8): the live board of a run and the approval views.

`agentbook.notebook.render.run_bundle` shows `board_for(run).widget` when a run is displayed in a
kernel; the magics show `plan_view` and `batch_view` by name.  The modules, by job:

* `board`: `Board` and `board_for`, when rows change (events mark them dirty, clicks);
* `pump`: the throttled refresh on the background thread (at most `max_rate` flushes a second);
* `rows`: what a row, the header and the totals show, from the agents' records;
* `transcript`: a row's expander and the conversation it opens;
* `permission`: the Approve / Always / Deny prompt of a waiting tool call;
* `approvals`: a plan's Approve button and a batch's editable units;
* `base`: the `Widget` alias and `close_all`.
"""

from agentbook.notebook.widgets.approvals import batch_view, plan_view
from agentbook.notebook.widgets.board import Board, board_for

__all__ = ["Board", "batch_view", "board_for", "plan_view"]
