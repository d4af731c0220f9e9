package plan

import (
	"sort"
	"strings"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// conflictLosers maps the DirectoryUsers (namespace/name) that would stall
// with reason Conflict to the winner's name, by the controller's rule:
// two DirectoryUsers of one Directory never manage one UPN; the one bound
// to a user under that UPN wins, then the oldest (the cluster's objects are
// older than new manifests), then the first by name.
func (p *planner) conflictLosers() map[string]string {
	claims := map[string][]*v1alpha1.DirectoryUser{}
	for _, du := range p.afterApply() {
		k := du.Namespace + "/" + du.Spec.DirectoryRef.Name + "/" + strings.ToLower(du.Spec.UserPrincipalName)
		claims[k] = append(claims[k], du)
	}
	losers := map[string]string{}
	for _, c := range claims {
		if len(c) < 2 {
			continue
		}
		sort.Slice(c, func(i, j int) bool { return p.claimsBefore(c[i], c[j]) })
		for _, l := range c[1:] {
			losers[l.Namespace+"/"+l.Name] = c[0].Name
		}
	}
	return losers
}

func (p *planner) claimsBefore(a, b *v1alpha1.DirectoryUser) bool {
	la, lb := p.live.users[a.Namespace+"/"+a.Name], p.live.users[b.Namespace+"/"+b.Name]
	bound := func(l *v1alpha1.DirectoryUser) bool {
		return l != nil && l.Status.ID != "" && strings.EqualFold(l.Status.UserPrincipalName, l.Spec.UserPrincipalName)
	}
	if bound(la) != bound(lb) {
		return bound(la)
	}
	if (la != nil) != (lb != nil) {
		return la != nil
	}
	if la != nil && !la.CreationTimestamp.Equal(&lb.CreationTimestamp) {
		return la.CreationTimestamp.Before(&lb.CreationTimestamp)
	}
	return a.Name < b.Name
}

// afterApply is every DirectoryUser as the cluster will hold it: the
// manifests' (their specs), and the cluster's that stay.
func (p *planner) afterApply() []*v1alpha1.DirectoryUser {
	var out []*v1alpha1.DirectoryUser
	for i := range p.in.Desired.Users {
		du := &p.in.Desired.Users[i]
		if l := p.live.users[du.Namespace+"/"+du.Name]; l != nil {
			// Status (id, UPN) is the cluster's; spec the manifest's.
			c := l.DeepCopy()
			c.Spec = du.Spec
			du = c
		}
		out = append(out, du)
	}
	if p.in.Live != nil {
		for i := range p.in.Live.Users {
			l := &p.in.Live.Users[i]
			if !p.desired.has(KindDirectoryUser, l.Namespace, l.Name) && !p.removed(KindDirectoryUser, l.Namespace, l.Name) {
				out = append(out, l)
			}
		}
	}
	return out
}
