package shard

import (
	"context"
	"math"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// renew writes this shard's Lease for key with renewTime now, creating it
// if missing and re-reading it after a conflict.
func (c *Coordinator) renew(ctx context.Context, key string, m *member) error {
	now := metav1.NewMicroTime(c.clock().Now())
	if m.lease == nil {
		l := &coordinationv1.Lease{}
		err := c.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.leaseName(key)}, l)
		switch {
		case apierrors.IsNotFound(err):
			return c.create(ctx, key, m, now)
		case err != nil:
			return err
		}
		m.lease = l
	}
	l := m.lease.DeepCopy()
	l.Spec.HolderIdentity = ptr.To(c.Identity)
	l.Spec.LeaseDurationSeconds = c.durationSeconds()
	l.Spec.RenewTime = &now
	err := c.Client.Update(ctx, l)
	switch {
	case apierrors.IsNotFound(err):
		m.lease = nil
		return c.create(ctx, key, m, now)
	case apierrors.IsConflict(err):
		m.lease = nil // read again at the next renewal
		return err
	case err != nil:
		return err
	}
	m.lease, m.renewed = l, now.Time
	return nil
}

func (c *Coordinator) create(ctx context.Context, key string, m *member, now metav1.MicroTime) error {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.Namespace, Name: c.leaseName(key),
			Labels:      map[string]string{LabelBudget: Hash(key), v1alpha1.LabelManagedBy: managedByValue},
			Annotations: map[string]string{AnnotationBudget: key},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(c.Identity),
			LeaseDurationSeconds: c.durationSeconds(),
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
	if err := c.Client.Create(ctx, l); err != nil {
		return err
	}
	m.lease, m.renewed = l, now.Time
	return nil
}

// count lists the Leases of key's budget: how many are live (renewTime +
// leaseDurationSeconds after now), this shard's always included, which
// others, and when the first other one expires unless renewed (zero if
// none). Expiry compares other nodes' renewTime with this node's clock, as
// leader election does: clocks must agree to well within a duration.
func (c *Coordinator) count(ctx context.Context, key string) (census, error) {
	items, err := c.list(ctx, key)
	if err != nil {
		return census{}, err
	}
	now, own := c.clock().Now(), c.leaseName(key)
	s := census{n: 1, peers: map[string]*coordinationv1.Lease{}}
	for i := range items {
		l := &items[i]
		if l.Name == own || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		if expires.After(now) {
			s.n++
			s.peers[l.Name] = l
			if s.firstExpiry.IsZero() || expires.Before(s.firstExpiry) {
				s.firstExpiry = expires
			}
		}
	}
	return s, nil
}

// durationSeconds is the Lease's leaseDurationSeconds, rounded up: peers
// must never count this shard out before its own renewals say so.
func (c *Coordinator) durationSeconds() *int32 {
	return ptr.To(int32(math.Ceil(c.duration().Seconds())))
}
