//go:build sdk

package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/directory-operator/directory-operator/internal/graphsim"
)

// row is one line of the table: one run (the operator's, or the naive
// baseline's) of one scenario.
type row struct {
	scenario string
	run      string
	wall     time.Duration
	// wallText replaces the formatted wall time when set.
	wallText string
	usage    usage
	// figure is our ratio with the limit or baseline it is taken against
	// named next to it.
	figure string
	// goal is the acceptance goal and whether it was met ("" when the
	// scenario has none).
	goal   string
	failed bool
	// reference: a figure measured outside this run (only requests and
	// wall time are known).
	reference bool
}

// usage is what Graph saw, read from the emulator's counters (the
// authoritative side: it counts what reached Graph, retries included).
type usage struct {
	requests   int64 // HTTP requests; a $batch envelope counts one
	batchItems int64
	ru         int64
	writes     int64
	throttled  int64 // 429 answers, batch items included
	// writeAttempts counts write requests sent (batch items included),
	// whatever the answer: writeAttempts − writes were refused, in these
	// scenarios by 429.
	writeAttempts int64
}

func usageOf(c graphsim.Counters) usage {
	u := usage{requests: c.Requests, batchItems: c.BatchItems, ru: c.ResourceUnits, writes: c.Writes, throttled: c.Throttled}
	for tmpl, n := range c.ByEndpoint {
		method, path, _ := strings.Cut(tmpl, " ")
		switch {
		case method == "PATCH" || method == "PUT" || method == "DELETE":
			u.writeAttempts += n
		case method == "POST" && path != "/$batch" && !strings.Contains(path, "getByIds"):
			u.writeAttempts += n
		}
	}
	return u
}

// writes429 is the share of write requests refused, in percent.
func (u usage) writes429() float64 {
	return pct(max(0, u.writeAttempts-u.writes), u.writeAttempts)
}

// scaled extrapolates a baseline run on n users to total users.
func (u usage) scaled(f float64) usage {
	m := func(v int64) int64 { return int64(math.Round(float64(v) * f)) }
	return usage{requests: m(u.requests), batchItems: m(u.batchItems), ru: m(u.ru), writes: m(u.writes), throttled: m(u.throttled), writeAttempts: m(u.writeAttempts)}
}

type table struct {
	rows  []row
	notes []string
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) markdown(cfg config, total time.Duration) string {
	var b strings.Builder
	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "## directory-operator benchmark (%s run)\n\n", mode)
	fmt.Fprintf(&b, "%s, %s/%s, %d CPUs; emulator time scale ×%g (quota windows and Retry-After compressed), "+
		"Graph latency %s per HTTP request (%s real ÷ %g); operator in-process on envtest with %d parallel DirectoryUser reconciles, %d per batch controller. "+
		"Figures are taken from the emulator's counters (a `$batch` envelope is one request; its items count in RU, writes and 429s). "+
		"Wall times are compressed times; real-Graph equivalents are noted where it matters. "+
		"The emulated round trip is compressed like the quota, which keeps latency and quota in proportion for scenarios 1–4; "+
		"the unthrottled scenarios 5–7 therefore understate round-trip-bound times (the naive loops most).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cfg.timeScale,
		fmtDur(scaledLatency(cfg)), fmtDur(cfg.graphLatency), cfg.timeScale, cfg.userConcurrency, concurrency)
	b.WriteString("| Scenario | Run | Wall time | Graph requests | RU | Writes | 429s | Figure (vs limit / baseline) | Goal |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range t.rows {
		if r.failed {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | – | – | **not measured**: %s | %s |\n", r.scenario, r.run, esc(r.figure), esc(r.goal))
			continue
		}
		wall := fmtDur(r.wall)
		if r.wallText != "" {
			wall = r.wallText
		}
		if r.reference {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | – | – | – | %s | %s |\n", r.scenario, r.run, wall, fmtInt(r.usage.requests), esc(r.figure), esc(r.goal))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.scenario, r.run, wall,
			fmtInt(r.usage.requests), fmtInt(r.usage.ru), fmtInt(r.usage.writes), fmtInt(r.usage.throttled), esc(r.figure), esc(r.goal))
	}
	if len(t.notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range t.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	fmt.Fprintf(&b, "\nTotal bench time %s.\n", fmtDur(total))
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < 2*time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

// fmtInt groups thousands: 10,000.
func fmtInt(v int64) string {
	s := fmt.Sprint(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a/b) || math.IsInf(a/b, 0) {
		return "n/a"
	}
	r := a / b
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}
