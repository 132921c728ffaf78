//! A small agent embedding a Talos node: it answers every message it receives with the same
//! text in upper case. A second node in the same process asks it a question and waits for
//! the answer. Everything stays on 127.0.0.1 and in memory.
//!
//! ```text
//! cargo run -p talos-node --example agent
//! ```

use core::time::Duration;

use talos_crypto::{ChaCha20Rng, SeedableRng, SigningKey};
use talos_node::node::{Node, NodeBuilder, NodeError, NodeEvent};
use tokio::sync::broadcast::Receiver;

/// The agent loop: reply to each message until the event stream ends.
async fn serve(agent: &Node, mut events: Receiver<NodeEvent>) -> Result<(), NodeError> {
    while let Ok(event) = events.recv().await {
        if let NodeEvent::Message { from, body, .. } = event {
            let question = String::from_utf8_lossy(&body);
            let answer = question.to_uppercase();
            agent.send(&from, answer.as_bytes()).await?;
        }
    }
    Ok(())
}

async fn run() -> Result<(), NodeError> {
    // Demo keys from fixed seeds; a real agent uses `talos init` and a data directory.
    let key = |seed: u8| SigningKey::generate(&mut ChaCha20Rng::from_seed([seed; 32]));
    let agent = NodeBuilder::new().identity_key(key(1)).build().await?;
    // Subscribe before anything can arrive: a receiver sees the events from then on.
    let inbox = agent.events();
    let seed = agent.listen_addrs().await?;
    let client = NodeBuilder::new()
        .identity_key(key(2))
        .bootstrap(seed)
        .build()
        .await?;
    println!("agent  {}", agent.did());
    println!("client {}", client.did());

    let mut replies = client.events();
    let id = client.send(agent.did(), b"hello, agent").await?;
    println!("client: delivered {id} (the agent's receipt came back)");

    tokio::select! {
        served = serve(&agent, inbox) => served?,
        () = async {
            while let Ok(event) = replies.recv().await {
                if let NodeEvent::Message { body, .. } = event {
                    println!("client: the agent answered {:?}", String::from_utf8_lossy(&body));
                    return;
                }
            }
        } => {}
    }
    client.shutdown().await;
    agent.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match tokio::time::timeout(Duration::from_secs(60), run()).await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("agent: {error}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("agent: timed out");
            std::process::ExitCode::FAILURE
        }
    }
}
