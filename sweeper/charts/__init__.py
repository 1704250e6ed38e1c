"""The one chart stack of pgolf: plotly figure builders and the self-contained page that embeds them.

Both the offline dashboard (`dashboards/`) and the record-candidate report (`sweeper.records.report`)
draw with these, so the two look the same and are tested once.
"""

from sweeper.charts.figures import RefLine, SeedCurve, SeedPoint, headroom, seed_curves, seed_strip, styled
from sweeper.charts.page import FigurePage, content_security_policy, plotly_js, script_json

__all__ = [
    "FigurePage", "RefLine", "SeedCurve", "SeedPoint", "content_security_policy", "headroom", "plotly_js",
    "script_json", "seed_curves", "seed_strip", "styled",
]
