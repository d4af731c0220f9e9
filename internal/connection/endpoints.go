package connection

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// DefaultAllowedCustomHosts are the hosts a Custom cloud may name when the
// manager is not told otherwise: Microsoft's authority and Graph hosts of
// the public, US Government and China clouds, and loopback (the emulator in
// tests and the demo). A Directory's credential is sent to its authority
// host, so without this list anyone allowed to create a Directory could
// send any Secret of its namespace to a host of their choice.
var DefaultAllowedCustomHosts = []string{
	"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn",
	"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn",
	"127.0.0.1", "localhost", "::1",
}

// HostAllowList is the set of hosts Custom clouds may use: exact host names
// (any port), or "*.example.net" for every subdomain of example.net.
type HostAllowList struct {
	hosts    map[string]bool
	suffixes []string // ".example.net"
	entries  []string
}

// ParseHostAllowList parses a comma-separated list (the
// --allowed-custom-hosts flag). Entries are host names or IP addresses,
// without scheme, port or path; IPv6 addresses may be bracketed.
func ParseHostAllowList(s string) (*HostAllowList, error) {
	return NewHostAllowList(strings.Split(s, ","))
}

// NewHostAllowList builds a list from entries; empty entries are skipped.
func NewHostAllowList(entries []string) (*HostAllowList, error) {
	l := &HostAllowList{hosts: map[string]bool{}}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, "/@?#") || (strings.Count(e, ":") == 1 && !strings.HasPrefix(e, "[")) {
			return nil, fmt.Errorf("allowed host %q: give a host name without scheme, port or path", e)
		}
		l.entries = append(l.entries, e)
		e = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(e, "]"), "["), ".")
		if rest, ok := strings.CutPrefix(e, "*."); ok {
			l.suffixes = append(l.suffixes, "."+rest)
			continue
		}
		l.hosts[e] = true
	}
	return l, nil
}

// Allows says whether rawURL's host is in the list.
func (l *HostAllowList) Allows(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || u.User != nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if l.hosts[h] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// String lists the entries as given.
func (l *HostAllowList) String() string { return strings.Join(l.entries, ",") }

var defaultAllowList, _ = NewHostAllowList(DefaultAllowedCustomHosts)

// checkCustomEndpoints refuses a Custom cloud whose endpoints are not
// allowed. It runs before any Secret is read.
func (r *Resolver) checkCustomEndpoints(spec v1alpha1.CloudSpec) error {
	allow := r.AllowedCustomHosts
	if allow == nil {
		allow = defaultAllowList
	}
	for _, ep := range []struct{ field, url string }{
		{"authorityHost", spec.AuthorityHost}, {"graphEndpoint", spec.GraphEndpoint},
	} {
		if !allow.Allows(ep.url) {
			return ctrlkit.Stalled(v1alpha1.ReasonEndpointNotAllowed,
				"spec.cloud.%s %q is not an allowed host for Custom clouds (no credential was read or sent); "+
					"the operator allows %s; an administrator can extend this with the manager flag --allowed-custom-hosts",
				ep.field, ep.url, allow)
		}
	}
	return nil
}
