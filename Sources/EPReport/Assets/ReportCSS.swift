extension ReportAssets {
    /// `assets/report.css`: the style sheet of every page.
    static let css = #"""
        :root {
          --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --soft: #f6f8fa; --accent: #0b5cad;
          --member: #d1242f; --heat: 11, 92, 173; --boundary: #bc4c00;
          font-family: system-ui, -apple-system, "Segoe UI", "Liberation Sans", sans-serif; font-size: 14px; color: var(--ink);
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: #fff; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        header.top { display: flex; align-items: center; gap: 24px; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--soft); }
        header.top .brand { font-weight: 600; color: var(--ink); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        header.top nav { display: flex; gap: 16px; margin-left: auto; }
        header.top nav a.active { font-weight: 600; color: var(--ink); }
        main { padding: 16px 20px 40px; max-width: 1400px; margin: 0 auto; }
        h1 { font-size: 20px; margin: 4px 0 12px; }
        h2 { font-size: 16px; margin: 24px 0 8px; }
        .muted { color: var(--muted); }
        .small { font-size: 12px; }
        .error { color: var(--member); font-weight: 600; }
        .facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; margin: 8px 0 12px; }
        .fact { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
        .fact .label { color: var(--muted); font-size: 12px; }
        .fact .value { font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
        .note { background: #fff8c5; border: 1px solid #d4a72c66; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
        .chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
        .chart h3 { font-size: 13px; margin: 0 0 4px; }
        .chart .caption { font-size: 12px; color: var(--muted); margin-top: 4px; }
        svg.plot { width: 100%; max-width: 800px; height: auto; display: block; }
        svg.plot text { font-size: 10px; fill: var(--muted); }
        svg.plot .axis { stroke: #8c959f; stroke-width: 1; }
        svg.plot .grid { stroke: #eaeef2; stroke-width: 1; }
        .legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: 12px; color: var(--muted); }
        .legend .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; vertical-align: -1px; }
        .controls { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin: 8px 0; }
        .controls input[type=search] { width: 320px; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; }
        .controls input[type=number] { width: 80px; padding: 4px 6px; border: 1px solid var(--line); border-radius: 6px; }
        .controls button, .controls select { padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
        .controls button:disabled { color: #aaa; }
        table.regions, table.plain { border-collapse: collapse; width: 100%; }
        table.regions th, table.regions td, table.plain th, table.plain td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
        table.regions th { background: var(--soft); cursor: pointer; user-select: none; white-space: nowrap; position: sticky; top: 0; }
        table.regions th.sorted::after { content: " ▾"; }
        table.regions th.sorted.ascending::after { content: " ▴"; }
        table.regions td.num, table.plain td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        table.regions tr:hover td { background: #f3f7fc; }
        .chip { display: inline-block; white-space: pre; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; background: #eef2f7; border: 1px solid #d0d7de; border-radius: 4px; padding: 0 4px; margin: 1px 2px 1px 0; }
        .snippet { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: pre; overflow: hidden; text-overflow: ellipsis; max-width: 340px; display: inline-block; vertical-align: top; }
        .snippet mark, .context .member { background: none; color: var(--member); font-weight: 700; }
        .lens { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
        .lens table td { padding: 2px 6px; }
        .lens .bar { height: 8px; background: #9ec5ec; border-radius: 2px; }
        .context { border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; margin: 6px 0; }
        .context .meta { font-size: 12px; color: var(--muted); margin-bottom: 3px; }
        .context .tokens { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; line-height: 1.9; white-space: pre-wrap; overflow-wrap: anywhere; }
        .context .tok { border-radius: 3px; padding: 1px 0; }
        .context .tok:hover { outline: 1px solid #57606a; }
        .context .member { outline: 2px solid var(--member); }
        .context .none { color: #8c959f; }
        .tooltip { position: fixed; z-index: 10; pointer-events: none; background: #1f2328; color: #fff; font-size: 12px; line-height: 1.4; padding: 6px 8px; border-radius: 6px; max-width: 420px; box-shadow: 0 2px 8px #0004; }
        .tooltip .t { font-family: ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; }
        .pager { display: flex; align-items: center; gap: 6px; }
        .map-wrap { position: relative; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; background: #fbfcfd; }
        .map-wrap canvas { display: block; width: 100%; height: 640px; cursor: grab; }
        .map-wrap canvas.dragging { cursor: grabbing; }
        .colorbar { display: inline-block; width: 160px; height: 10px; border-radius: 2px; vertical-align: middle; }
        .two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
        @media (max-width: 900px) { .two, .lens { grid-template-columns: 1fr; } }
        """#
}
