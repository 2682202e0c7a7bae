package validatornode

import (
	"context"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/webhook"
)

// webhookPolicy is which webhook targets customers may name.
func (n *Node) webhookPolicy() webhook.Policy {
	return webhook.Policy{AllowPrivate: n.cfg.WebhooksAllowPrivate}
}

// CheckWebhookURL refuses a webhook URL the node will not deliver to
// (webhook.Policy.CheckURL).
func (b backend) CheckWebhookURL(ctx context.Context, url string) error {
	return b.n.webhookPolicy().CheckURL(ctx, url)
}

// PingWebhook queues a test message to h.
func (b backend) PingWebhook(ctx context.Context, h *crucible.Webhook) (*crucible.WebhookDelivery, error) {
	return b.n.hooks.Ping(ctx, h)
}
