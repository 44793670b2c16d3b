"""Handles the OrderPlaced events a rule sends: `aws events put-events` with source example.orders."""


def lambda_handler(event, context):
    order = event["detail"]
    print(f"order {order['orderId']} placed for {order['amount']}")
    return {"orderId": order["orderId"], "status": "accepted"}
