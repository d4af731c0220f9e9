package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

const (
	namespace = "chaos"
	dirName   = "tenant"
	batchName = "offboard"
	gsName    = "all-staff"
	// credentialLabel marks Secrets meant for the operator. Today's code
	// ignores it; the security work restricts Directories to Secrets that
	// carry it, so the suite sets it already.
	credentialLabel = "entra.directory-operator.io/credential"
)

// plan is everything the scenario creates, derived from the seed and the
// generated tenant, and what the invariants compare against.
type plan struct {
	users []*v1alpha1.DirectoryUser
	// secrets: the Directory's credential and the user-supplied passwords.
	secrets   []*corev1.Secret
	directory *v1alpha1.Directory
	batch     *v1alpha1.UserDisableBatch
	groupSync *v1alpha1.GroupSync
	// protected are UPNs in safety.protectedUsers that the batch lists too.
	protected []string
	// overlap are batch users also adopted by a DirectoryUser (issue: a
	// batch must never be silently undone by one).
	overlap []string
	// created: UPNs the operator is asked to create.
	created []string
	// passwords are the user-supplied password canaries.
	passwords []string
	// notFound are batch users that do not exist.
	notFound []string
	// duplicates are two DirectoryUsers claiming one UPN (at most one may
	// be Ready on the Entra object).
	duplicates []string
	// takeover is a GroupSync whose export names appConfig, a ConfigMap the
	// operator did not create: it must stay untouched.
	takeover  *v1alpha1.GroupSync
	appConfig *corev1.ConfigMap
}

// newPlan deals the generated tenant's users out to the scenario's roles.
// Group members are left alone (the GroupSync export is then comparable
// with the emulator attribute for attribute); batch users, protected users,
// adopted and observed users are drawn from the others without overlap,
// except the deliberate batch/DirectoryUser overlap.
func newPlan(cfg config, s *sim, rng *rand.Rand) (*plan, error) {
	p := &plan{notFound: []string{"chaos-gone-1@contoso.com", "chaos-gone-2@contoso.com"}}
	nAdopt, nObserve := cfg.users/5, cfg.users*3/20
	nCreate := cfg.users - nAdopt - nObserve - cfg.overlap
	d := newDealer(s, rng)
	protected, overlap := d.take(cfg.protected, true), d.take(cfg.overlap, true)
	batchRest := d.take(cfg.batchUsers-len(protected)-len(overlap)-len(p.notFound), false)
	adopt, observe, managers := d.take(nAdopt, false), d.take(nObserve, false), d.take(1, true)
	if d.short > 0 {
		return nil, fmt.Errorf("tenant too small: %d more users outside the group needed", d.short)
	}

	var batchUsers []string
	for _, u := range protected {
		p.protected = append(p.protected, u.UserPrincipalName)
		batchUsers = append(batchUsers, u.UserPrincipalName)
	}
	for _, u := range overlap {
		p.overlap = append(p.overlap, u.UserPrincipalName)
		batchUsers = append(batchUsers, u.UserPrincipalName)
	}
	for _, u := range batchRest {
		batchUsers = append(batchUsers, u.UserPrincipalName)
	}
	batchUsers = append(batchUsers, p.notFound...)
	rng.Shuffle(len(batchUsers), func(i, j int) { batchUsers[i], batchUsers[j] = batchUsers[j], batchUsers[i] })

	p.directory, p.secrets = directory(s, p.protected)
	p.addCreated(cfg, nCreate, managers[0].UserPrincipalName)
	for i, u := range adopt {
		p.users = append(p.users, du(fmt.Sprintf("a-%03d", i), u.UserPrincipalName, func(d *v1alpha1.DirectoryUser) {
			d.Spec.Adopt = true
			d.Spec.JobTitle = ptr("Chaos adopted")
		}))
	}
	for i, u := range observe {
		p.users = append(p.users, du(fmt.Sprintf("o-%03d", i), u.UserPrincipalName, func(d *v1alpha1.DirectoryUser) {
			d.Spec.ManagementPolicy = v1alpha1.ManagementObserveOnly
		}))
	}
	for i, upn := range p.overlap {
		p.users = append(p.users, du(fmt.Sprintf("x-%03d", i), upn, func(d *v1alpha1.DirectoryUser) {
			d.Spec.Adopt = true
			// A short interval makes the drift poll (and any revert of the
			// batch's disable) happen within the run.
			d.Spec.Interval = &metav1.Duration{Duration: 10 * time.Second}
		}))
	}
	if cfg.duplicates {
		upn := "chaos-dup-0@contoso.com"
		p.created = append(p.created, upn)
		// Both may adopt, so whichever runs second finds the user the
		// other created: it must still not become a second Ready owner.
		for _, name := range []string{"d-000a", "d-000b"} {
			p.duplicates = append(p.duplicates, name)
			p.users = append(p.users, du(name, upn, func(d *v1alpha1.DirectoryUser) {
				d.Spec.JobTitle = ptr("Chaos duplicate")
				d.Spec.Adopt = true
			}))
		}
	}
	if cfg.takeover {
		p.appConfig = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "app-config"},
			Data: map[string]string{"settings.yaml": "owner: another team\n"}}
		p.takeover = &v1alpha1.GroupSync{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "takeover"},
			Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: dirName},
				Group: v1alpha1.GroupSelector{DisplayName: "All Staff"}, Export: p.appConfig.Name},
		}
	}
	p.batch = &v1alpha1.UserDisableBatch{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: batchName},
		Spec: v1alpha1.UserDisableBatchSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: dirName}, Users: batchUsers,
			Reason: "chaos suite"},
	}
	p.groupSync = &v1alpha1.GroupSync{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: gsName},
		Spec: v1alpha1.GroupSyncSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: dirName},
			Group: v1alpha1.GroupSelector{DisplayName: "All Staff"}},
	}
	return p, nil
}

// dealer hands out users outside the synced group, in a seeded order,
// each at most once.
type dealer struct {
	pool  []simUser
	short int
}

func newDealer(s *sim, rng *rand.Rand) *dealer {
	member := map[string]bool{}
	for _, id := range s.groupMembers {
		member[id] = true
	}
	d := &dealer{}
	for _, u := range s.initialUsers {
		if !member[u.ID] {
			d.pool = append(d.pool, u)
		}
	}
	sort.Slice(d.pool, func(i, j int) bool { return d.pool[i].ID < d.pool[j].ID })
	rng.Shuffle(len(d.pool), func(i, j int) { d.pool[i], d.pool[j] = d.pool[j], d.pool[i] })
	return d
}

// take returns n users (enabled ones only if asked) and counts any
// shortfall, reported once by the caller.
func (d *dealer) take(n int, enabledOnly bool) []simUser {
	var out []simUser
	for i := 0; i < len(d.pool) && len(out) < n; {
		if enabledOnly && !d.pool[i].AccountEnabled {
			i++
			continue
		}
		out = append(out, d.pool[i])
		d.pool = slices.Delete(d.pool, i, i+1)
	}
	d.short += n - len(out)
	return out
}

// addCreated adds the users the operator creates: one in ten with a
// user-supplied password (a canary), the rest with generated ones; one in
// ten has another created user as manager, one in 25 a tenant user.
func (p *plan) addCreated(cfg config, n int, tenantManager string) {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("u-%03d", i)
		upn := fmt.Sprintf("chaos-%s@contoso.com", name)
		p.created = append(p.created, upn)
		p.users = append(p.users, du(name, upn, func(d *v1alpha1.DirectoryUser) {
			d.Spec.DisplayName = "Chaos " + name
			d.Spec.JobTitle = ptr("Chaos created")
			d.Spec.Department = ptr([]string{"Sales", "Legal", "Ops"}[i%3])
			switch {
			case i%10 == 5:
				d.Spec.Manager = &v1alpha1.ManagerReference{UserRef: &v1alpha1.LocalObjectReference{Name: fmt.Sprintf("u-%03d", i-5)}}
			case i%25 == 7:
				d.Spec.Manager = &v1alpha1.ManagerReference{UserPrincipalName: tenantManager}
			}
			if i%10 == 3 {
				pw := canary(cfg.seed, "password", i)
				p.passwords = append(p.passwords, pw)
				sec := secret("pw-"+name, map[string][]byte{"password": []byte(pw)})
				p.secrets = append(p.secrets, sec)
				d.Spec.Password = &v1alpha1.PasswordSpec{SecretRef: v1alpha1.SecretKeySelector{Name: sec.Name, Key: "password"}}
			}
		}))
	}
}

func directory(s *sim, protected []string) (*v1alpha1.Directory, []*corev1.Secret) {
	cred := secret(dirName+"-credentials", map[string][]byte{"clientSecret": []byte(s.clientSecret), "ca.crt": mustRead(s.caFile)})
	d := &v1alpha1.Directory{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: dirName},
		Spec: v1alpha1.DirectorySpec{
			TenantID:   s.tenant,
			ClientID:   s.clientID,
			Credential: v1alpha1.DirectoryCredential{ClientSecret: &v1alpha1.SecretKeySelector{Name: cred.Name, Key: "clientSecret"}},
			Cloud: v1alpha1.CloudSpec{Name: v1alpha1.CloudCustom, AuthorityHost: s.url + "/", GraphEndpoint: s.url,
				CABundle: &v1alpha1.SecretKeySelector{Name: cred.Name, Key: "ca.crt"}},
			Safety: v1alpha1.SafetySpec{AllowedDomains: []string{"contoso.com"}, ProtectedUsers: protected},
		},
	}
	return d, []*corev1.Secret{cred}
}

func du(name, upn string, f func(*v1alpha1.DirectoryUser)) *v1alpha1.DirectoryUser {
	d := &v1alpha1.DirectoryUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       v1alpha1.DirectoryUserSpec{DirectoryRef: v1alpha1.DirectoryReference{Name: dirName}, UserPrincipalName: upn},
	}
	f(d)
	return d
}

func secret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
		Labels: map[string]string{credentialLabel: "true"}}, Data: data}
}

// canary is a seed-derived secret value that passes Graph's password rules
// and is unique enough to be searched for in logs.
func canary(seed int64, kind string, i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%d", seed, kind, i)))
	return "Cy!" + hex.EncodeToString(h[:10]) + "Qz9"
}

// apply creates everything: the namespace and Secrets first, then the
// Directory, the batch and the GroupSync, then the DirectoryUsers (their
// creation alone takes a while, and the batch should be running meanwhile).
func (p *plan) apply(ctx context.Context, c client.Client) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	objs := []client.Object{}
	for _, s := range p.secrets {
		objs = append(objs, s)
	}
	if p.appConfig != nil {
		objs = append(objs, p.appConfig, p.takeover)
	}
	objs = append(objs, p.directory, p.batch, p.groupSync)
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	// A few writers in parallel: hundreds of sequential creates would take
	// a noticeable part of the run on a loaded machine.
	work := make(chan *v1alpha1.DirectoryUser)
	errs := make(chan error, len(p.users))
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := c.Create(ctx, u); err != nil {
					errs <- fmt.Errorf("creating DirectoryUser %s: %w", u.Name, err)
				}
			}
		}()
	}
	for _, u := range p.users {
		work <- u
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

func ptr[T any](v T) *T { return &v }
