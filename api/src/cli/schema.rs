//! `podium schema`: prints the GraphQL schema (SDL), as checked in as `schema.graphql`.

pub fn run() {
    print!("{}", crate::transport::graphql::sdl());
}
