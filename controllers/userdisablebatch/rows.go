package userdisablebatch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// countRows sums the outcomes.
func countRows(rows []v1alpha1.BatchUserResult) v1alpha1.BatchCounts {
	c := v1alpha1.BatchCounts{Total: int32(len(rows))}
	for _, row := range rows {
		switch row.Outcome {
		case v1alpha1.OutcomeDisabled:
			c.Disabled++
		case v1alpha1.OutcomeAlreadyDisabled:
			c.AlreadyDisabled++
		case v1alpha1.OutcomeNotFound:
			c.NotFound++
		case v1alpha1.OutcomeProtected:
			c.Protected++
		case v1alpha1.OutcomeManaged:
			c.Managed++
		case v1alpha1.OutcomeFailed:
			c.Failed++
		case v1alpha1.OutcomeQueried:
			c.Queried++
		case v1alpha1.OutcomeEnabled:
			c.Enabled++
		case v1alpha1.OutcomeAlreadyEnabled:
			c.AlreadyEnabled++
		case v1alpha1.OutcomeSkipped:
			c.Skipped++
		}
	}
	return c
}

// allDone reports whether every row has its final outcome (and, when asked
// for, every disabled user's sessions were revoked or refused).
func allDone(b *v1alpha1.UserDisableBatch) bool {
	revoke := b.Spec.RevokeSessions && !b.Spec.DryRun
	for _, row := range b.Status.Users {
		if row.Outcome == v1alpha1.OutcomePending {
			return false
		}
		if revoke && row.Outcome == v1alpha1.OutcomeDisabled && row.SessionsRevoked == nil {
			return false
		}
	}
	return true
}

func revokeFailures(rows []v1alpha1.BatchUserResult) int {
	n := 0
	for _, row := range rows {
		if row.SessionsRevoked != nil && !*row.SessionsRevoked {
			n++
		}
	}
	return n
}

func pending(rows []v1alpha1.BatchUserResult) int {
	n := 0
	for _, row := range rows {
		if row.Outcome == v1alpha1.OutcomePending {
			n++
		}
	}
	return n
}

// completionMessage is the Ready message and the completion event's note.
func completionMessage(op *operation, b *v1alpha1.UserDisableBatch) string {
	c := countRows(b.Status.Users)
	if op.target && !b.Spec.DryRun {
		return enableCompletionMessage(c)
	}
	if b.Spec.DryRun {
		enabled := 0
		for _, row := range b.Status.Users {
			if row.Outcome == v1alpha1.OutcomeQueried && row.AccountEnabled != nil && *row.AccountEnabled {
				enabled++
			}
		}
		msg := fmt.Sprintf("Queried %d of %d users (dry run, nothing written): %d enabled, %d disabled, %d protected, %d managed by a DirectoryUser, %d not found, %d failed",
			c.Queried+c.Protected+c.Managed, c.Total, enabled, int(c.Queried)-enabled, c.Protected, c.Managed, c.NotFound, c.Failed)
		if c.Skipped > 0 {
			msg += fmt.Sprintf(", %d skipped (already disabled before the source batch)", c.Skipped)
		}
		return msg
	}
	msg := fmt.Sprintf("Disabled %d of %d users: %d already disabled, %d not found, %d protected, %d failed",
		c.Disabled, c.Total, c.AlreadyDisabled, c.NotFound, c.Protected, c.Failed)
	if c.Managed > 0 {
		msg += fmt.Sprintf(", %d managed by a DirectoryUser (not written)", c.Managed)
	}
	if b.Spec.RevokeSessions {
		if n := revokeFailures(b.Status.Users); n > 0 {
			msg += fmt.Sprintf("; revoking sessions failed for %d", n)
		} else {
			msg += "; sessions revoked"
		}
	}
	return msg
}

// enableCompletionMessage is completionMessage for a UserEnableBatch.
func enableCompletionMessage(c v1alpha1.BatchCounts) string {
	msg := fmt.Sprintf("Enabled %d of %d users: %d already enabled, %d not found, %d protected, %d failed",
		c.Enabled, c.Total, c.AlreadyEnabled, c.NotFound, c.Protected, c.Failed)
	if c.Skipped > 0 {
		msg += fmt.Sprintf(", %d skipped (already disabled before the source batch; left disabled)", c.Skipped)
	}
	if c.Managed > 0 {
		msg += fmt.Sprintf(", %d managed by a DirectoryUser (not written)", c.Managed)
	}
	return msg
}

// progressMessage is the Reconciling message while the batch runs.
func progressMessage(op *operation, b *v1alpha1.UserDisableBatch) string {
	c := countRows(b.Status.Users)
	if b.Spec.DryRun {
		return fmt.Sprintf("Queried %d of %d users", c.Queried+c.Protected+c.Managed+c.NotFound+c.Failed, c.Total)
	}
	done := c.Disabled
	if op.target {
		done = c.Enabled
	}
	return fmt.Sprintf("%s %d of %d users, %d pending", strings.ToUpper(op.verb[:1])+op.verb[1:], done, c.Total, pending(b.Status.Users))
}

func asStalled(err error, target **ctrlkit.StalledError) bool {
	return errors.As(err, target)
}
