package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Formats of Render.
const (
	FormatText     = "text"
	FormatJSON     = "json"
	FormatMarkdown = "markdown"
)

// Formats lists the -o values.
var Formats = []string{FormatText, FormatJSON, FormatMarkdown}

// maxRowsShown bounds the batch rows text and Markdown list (JSON has all):
// the rows a reviewer must look at are the exceptions, not 5,000 disables.
const maxRowsShown = 50

// Render writes the plan in one of Formats.
func (p *Plan) Render(w io.Writer, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case FormatMarkdown:
		return p.markdown(w)
	case FormatText, "":
		return p.text(w)
	}
	return fmt.Errorf("unknown output format %q (one of %s)", format, strings.Join(Formats, ", "))
}

func (p *Plan) text(w io.Writer) error {
	var b strings.Builder
	for _, it := range p.Items {
		fmt.Fprintf(&b, "%s %s %s/%s", symbol(it.Action), it.Kind, it.Namespace, it.Name)
		if it.Directory != "" {
			fmt.Fprintf(&b, " (Directory %s)", it.Directory)
		}
		fmt.Fprintf(&b, ": %s", it.Action)
		if it.Reason != "" {
			fmt.Fprintf(&b, " [%s]", it.Reason)
		}
		if it.Message != "" {
			fmt.Fprintf(&b, " — %s", it.Message)
		}
		b.WriteString("\n")
		for _, c := range it.Changes {
			fmt.Fprintf(&b, "      %s: %s\n", c.Field, changeText(c))
		}
		if it.Batch != nil {
			fmt.Fprintf(&b, "      users: %d (%s)\n", it.Batch.Total, it.Batch.countsText())
			for _, r := range it.Batch.exceptions() {
				fmt.Fprintf(&b, "      %-16s %s%s\n", r.Outcome, r.User, suffix(r.Message))
			}
			if n := it.Batch.hidden(); n > 0 {
				fmt.Fprintf(&b, "      … %d more exceptional rows (-o json lists every row)\n", n)
			}
		}
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}
	if !p.ClusterConsulted {
		b.WriteString("note: the cluster was not consulted; removed objects are not listed\n")
	}
	b.WriteString(p.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("### kubectl entra plan\n\n")
	b.WriteString(p.Summary() + "\n\n")
	b.WriteString("| | Object | Directory | Action | Details |\n|---|---|---|---|---|\n")
	for _, it := range p.Items {
		var d []string
		if it.Reason != "" {
			d = append(d, "**"+it.Reason+"**")
		}
		if it.Message != "" {
			d = append(d, mdEscape(it.Message))
		}
		for _, c := range it.Changes {
			d = append(d, "`"+c.Field+"`: "+mdEscape(changeText(c)))
		}
		if it.Batch != nil {
			d = append(d, fmt.Sprintf("%d users: %s", it.Batch.Total, it.Batch.countsText()))
			for _, r := range it.Batch.exceptions() {
				d = append(d, fmt.Sprintf("%s: %s%s", r.Outcome, mdEscape(r.User), mdEscape(suffix(r.Message))))
			}
			if n := it.Batch.hidden(); n > 0 {
				d = append(d, fmt.Sprintf("… %d more", n))
			}
		}
		fmt.Fprintf(&b, "| %s | %s `%s/%s` | %s | %s | %s |\n", symbol(it.Action), it.Kind, it.Namespace, it.Name,
			it.Directory, it.Action, strings.Join(d, "<br>"))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(&b, "\n> warning: %s\n", mdEscape(warn))
	}
	if !p.ClusterConsulted {
		b.WriteString("\n> the cluster was not consulted; removed objects are not listed\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func symbol(a Action) string {
	switch a {
	case ActionCreate, ActionAdopt:
		return "+"
	case ActionUpdate, ActionDisable:
		return "~"
	case ActionDelete, ActionRemove:
		return "-"
	case ActionOrphan:
		return "<"
	case ActionStalled, ActionWait:
		return "!"
	}
	return "="
}

func changeText(c Change) string {
	return value(c.Old) + " → " + value(c.New)
}

func value(s string) string {
	if s == "" {
		return "(unset)"
	}
	if s == "true" || s == "false" || strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return s
	}
	return strconv.Quote(s)
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (pv *BatchPreview) countsText() string {
	var parts []string
	for _, o := range OutcomeOrder {
		if n := pv.Counts[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	if pv.DryRun {
		parts = append(parts, "dry run")
	}
	return strings.Join(parts, ", ")
}

// exceptions are the rows other than a plain disable or query, at most
// maxRowsShown.
func (pv *BatchPreview) exceptions() []BatchRow {
	var out []BatchRow
	for _, r := range pv.Rows {
		if (r.Outcome != OutcomeDisable && r.Outcome != OutcomeQueried) || r.Message != "" {
			if len(out) == maxRowsShown {
				break
			}
			out = append(out, r)
		}
	}
	return out
}

func (pv *BatchPreview) hidden() int {
	n := 0
	for _, r := range pv.Rows {
		if (r.Outcome != OutcomeDisable && r.Outcome != OutcomeQueried) || r.Message != "" {
			n++
		}
	}
	return max(0, n-maxRowsShown)
}
